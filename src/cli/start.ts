import { type CliContext, EXIT_USAGE, loadForCommand } from './context.js';

/**
 * Runs the bots. The Discord and Slack adapters and the job engine are not built yet: until they
 * are, this says so plainly instead of pretending to run.
 */
export async function startCommand(_args: readonly string[], context: CliContext): Promise<number> {
  const loaded = loadForCommand(context);
  if ('exitCode' in loaded) return loaded.exitCode;
  const wanted = [
    context.env.DISCORD_TOKEN ? 'Discord (DISCORD_TOKEN is set)' : undefined,
    context.env.SLACK_BOT_TOKEN ? 'Slack (SLACK_BOT_TOKEN is set)' : undefined,
  ].filter((text) => text !== undefined);
  context.stderr.write(
    [
      'nano-banana start: the bots are not built yet.',
      '  Discord adapter: not built yet',
      '  Slack adapter: not built yet',
      wanted.length > 0 ? `  Configured but not runnable yet: ${wanted.join(', ')}` : undefined,
      'Meanwhile, "nano-banana imagine" makes images from the command line.',
      '',
    ]
      .filter((line) => line !== undefined)
      .join('\n'),
  );
  return EXIT_USAGE;
}
