import { splitArguments } from './arguments.js';
import {
  apiClient,
  type CliContext,
  describeForOperator,
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  loadForCommand,
  reportFailure,
} from './context.js';

export const TASK_USAGE = `Usage: nano-banana task <task-id> [--json]

Prints a task's state: pending, done with its image URLs, or failed with its error.
Exit 0 when pending or done, 1 when the task failed or the API could not be asked, 2 for bad usage.`;

export async function taskCommand(args: readonly string[], context: CliContext): Promise<number> {
  const split = splitArguments(args, { json: { value: false }, help: { value: false } });
  if (split.options.has('help')) {
    context.stdout.write(`${TASK_USAGE}\n`);
    return EXIT_OK;
  }
  const taskId = split.text.trim();
  if (taskId === '' || /\s/.test(taskId)) {
    context.stderr.write(`${TASK_USAGE}\n`);
    return EXIT_USAGE;
  }
  const json = split.options.has('json');
  const loaded = loadForCommand(context);
  if ('exitCode' in loaded) return loaded.exitCode;
  const { config, logger } = loaded;
  const client = apiClient(config, logger, context);
  if (client === undefined) return EXIT_USAGE;
  try {
    const snapshot = await client.retrieveTask(taskId, { signal: context.stopSignal });
    const { status } = snapshot;
    if (json) {
      context.stdout.write(
        `${JSON.stringify({
          id: snapshot.id,
          traceId: snapshot.traceId,
          state: status.state === 'succeeded' ? 'done' : status.state,
          ...(status.state === 'succeeded'
            ? { images: status.images.map((image) => image.url) }
            : {}),
          ...(status.state === 'failed' ? { error: status.error.toJSON() } : {}),
        })}\n`,
      );
    } else if (status.state === 'pending') {
      context.stdout.write(`${snapshot.id}: pending\n`);
    } else if (status.state === 'succeeded') {
      context.stdout.write(
        `${snapshot.id}: done\n${status.images.map((image) => image.url).join('\n')}\n`,
      );
    } else {
      context.stdout.write(`${snapshot.id}: failed\n`);
      context.stderr.write(`nano-banana: ${describeForOperator(status.error, context.env)}\n`);
    }
    return status.state === 'failed' ? EXIT_FAILED : EXIT_OK;
  } catch (error) {
    reportFailure(context, error, json);
    return EXIT_FAILED;
  } finally {
    await client.close();
  }
}
