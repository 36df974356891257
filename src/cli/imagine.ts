import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { toApiBody } from '../core/api/client.js';
import { blendPrompt, checkBlendImages } from '../core/blend.js';
import { systemClock } from '../core/clock.js';
import { invalidInput, type NanoBananaError, toNanoBananaError } from '../core/errors.js';
import { parsePromptFlags } from '../core/flags.js';
import {
  downloadImage,
  downloadWithRetry,
  type ImageFile,
  type InputImage,
  prepareInputImage,
  readImageFile,
} from '../core/images/index.js';
import { translate } from '../core/messages.js';
import { trustedOrigins } from '../core/net/index.js';
import { validateRequest } from '../core/request.js';
import { TaskFollower } from '../core/task-follower.js';
import { splitArguments } from './arguments.js';
import {
  apiClient,
  type CliContext,
  cliLocale,
  describeForOperator,
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  loadForCommand,
  reportFailure,
} from './context.js';

export const IMAGINE_USAGE = `Usage: nano-banana imagine "<prompt>" [--model M] [--ar 16:9] [--res 2K] [--count N]
                          [--image PATH_OR_URL]... [--out DIR] [--json]

  --model M        nano-banana (banana), nano-banana-2 (2), nano-banana-2-lite (lite), nano-banana-pro (pro)
  --ar R           1:1 3:2 2:3 16:9 9:16 4:3 3:4 (aliases --aspect)
  --res R          1K 2K 4K; above 1K needs nano-banana-2 or pro (alias --resolution)
  --count N        1 to 4 images (alias --n)
  --image X        an input image, a file or a public URL; repeat for several. With images it edits.
  --blend          blend the 2 to 5 --image given into one (the prompt may then be left out)
  --out DIR        where to write the images (default: the current folder)
  --json           print one JSON object on stdout instead of the file paths

Writes DIR/<short-prompt>-<task>-<n>.png and prints each path. Exit 0 on success, 1 when the API
or a download fails (the images that came are still written, and the missing ones named), 2 for
bad usage or input (nothing sent).`;

/** The largest result accepted from the API's CDN: a 4K PNG is well under this. */
const MAX_RESULT_BYTES = 100 * 1024 * 1024;
const DOWNLOAD_TIMEOUT_MS = 120_000;

export async function imagineCommand(
  args: readonly string[],
  context: CliContext,
): Promise<number> {
  const fail = (code: number, error: unknown, json: boolean) => {
    reportFailure(context, error, json);
    return code;
  };

  let split: ReturnType<typeof splitArguments>;
  try {
    split = splitArguments(args, {
      image: { value: true, repeat: true },
      out: { value: true },
      json: { value: false },
      help: { value: false },
    });
  } catch (error) {
    context.stderr.write(`nano-banana: ${(error as Error).message}\n${IMAGINE_USAGE}\n`);
    return EXIT_USAGE;
  }
  if (split.options.has('help')) {
    context.stdout.write(`${IMAGINE_USAGE}\n`);
    return EXIT_OK;
  }
  const json = split.options.has('json');
  const loaded = loadForCommand(context);
  if ('exitCode' in loaded) return loaded.exitCode;
  const { config, logger } = loaded;

  // Everything the user gave is checked before anything is sent.
  let request: ReturnType<typeof validateRequest>;
  let inputs: InputImage[];
  try {
    const parsed = parsePromptFlags(split.text, config.catalog);
    // Saved styles and preferences belong to chat members: here they would be dropped unseen.
    if (parsed.style !== undefined || parsed.prefer === true) {
      const flag = parsed.style !== undefined ? '--style' : '--prefer';
      throw invalidInput('unknown_flag', `${flag} is for the chat bots`, {
        flag,
        valid: ['--model', '--ar', '--res', '--count', '--blend'],
      });
    }
    // `--blend`: the `--image`s given, 2 to 5, blended; the prompt may be left out.
    if (parsed.blend === true) checkBlendImages(split.options.get('image')?.length ?? 0);
    inputs = await Promise.all(
      (split.options.get('image') ?? []).map((source) =>
        /^https?:\/\//i.test(source)
          ? Promise.resolve<InputImage>({ kind: 'url', url: source })
          : readImageFile(path.resolve(context.cwd, source)),
      ),
    );
    const prepared = [];
    for (const input of inputs) prepared.push(await prepareInputImage(input));
    for (const image of prepared) {
      if (image.change !== 'none') {
        context.stderr.write(`Input image ${image.change} to fit the API's 10 MB limit.\n`);
      }
    }
    request = validateRequest(
      {
        prompt: parsed.blend === true ? blendPrompt(parsed.prompt) : parsed.prompt,
        model: parsed.model,
        aspectRatio: parsed.aspectRatio,
        resolution: parsed.resolution,
        count: parsed.count,
        imageUrls: prepared.map((image) => image.url),
      },
      config,
    );
  } catch (error) {
    return fail(EXIT_USAGE, error, json);
  }
  const client = apiClient(config, logger, context);
  if (client === undefined) return EXIT_USAGE;
  const follower = new TaskFollower({
    client,
    logger,
    pollIntervalMs: config.acedata.pollIntervalMs,
  });
  const started = Date.now();
  try {
    context.stderr.write(`Creating the task (${request.action}, ${request.model})…\n`);
    const created = await client.create(request, { async: true, signal: context.stopSignal });
    context.stderr.write(`Task ${created.taskId} created; waiting for the images…\n`);
    const requestBytes = JSON.stringify(toApiBody(request, true, undefined)).length;
    const result = await follower.follow(created.taskId, {
      requestBytes,
      signal: context.stopSignal,
    });
    const outDirectory = path.resolve(context.cwd, split.options.get('out')?.[0] ?? '.');
    await mkdir(outDirectory, { recursive: true });
    const files: string[] = [];
    // The images are paid for: one that cannot be downloaded (after retries) does not cost the
    // others. What is missing is said, with its URL, and the command exits 1.
    const missing: { index: number; url: string; error: NanoBananaError }[] = [];
    const total = result.images.length;
    for (const [index, image] of result.images.entries()) {
      let file: ImageFile;
      try {
        file = await downloadWithRetry(
          () =>
            downloadImage(image.url, {
              maxBytes: MAX_RESULT_BYTES,
              timeoutMs: DOWNLOAD_TIMEOUT_MS,
              // The API's own origin as it is (its mock serves results on loopback); others public only.
              trustedOrigins: trustedOrigins(config.acedata.baseUrl),
              ...(context.stopSignal ? { signal: context.stopSignal } : {}),
            }),
          {
            clock: systemClock,
            signal: context.stopSignal,
            onRetry: (failure, _attempt, delayMs) =>
              context.stderr.write(
                `Image ${index + 1} of ${total}: ${failure.message}; trying again in ${Math.ceil(delayMs / 1000)} s…\n`,
              ),
          },
        );
      } catch (error) {
        if (context.stopSignal?.aborted) throw error;
        missing.push({ index, url: image.url, error: toNanoBananaError(error) });
        continue;
      }
      const name = `${slug(request.prompt)}-${shortId(created.taskId)}-${index + 1}.${extension(file.mime)}`;
      const target = path.join(outDirectory, name);
      await writeFile(target, file.bytes);
      files.push(target);
      if (!json) context.stdout.write(`${target}\n`);
    }
    if (missing.length > 0) {
      const locale = cliLocale(context.env);
      for (const entry of missing) {
        context.stderr.write(
          `nano-banana: image ${entry.index + 1} of ${total} (${entry.url}): ${describeForOperator(entry.error, context.env)}\n`,
        );
      }
      context.stderr.write(
        `nano-banana: ${translate(locale, 'job.images_missing', { missing: missing.length })}\n`,
      );
      if (json) {
        context.stdout.write(
          `${JSON.stringify({
            ok: false,
            taskId: created.taskId,
            traceId: result.traceId ?? created.traceId,
            files,
            images: result.images.map((image) => image.url),
            missing: missing.map((entry) => ({
              index: entry.index + 1,
              url: entry.url,
              error: entry.error.toJSON(),
            })),
          })}\n`,
        );
      }
      return EXIT_FAILED;
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    context.stderr.write(
      `Done in ${seconds} s (trace id ${result.traceId ?? created.traceId ?? 'n/a'}).\n`,
    );
    if (request.count !== undefined && result.images.length < request.count) {
      context.stderr.write(
        `The model returned ${result.images.length} of ${request.count} images.\n`,
      );
    }
    if (json) {
      context.stdout.write(
        `${JSON.stringify({
          ok: true,
          taskId: created.taskId,
          traceId: result.traceId ?? created.traceId,
          files,
          images: result.images.map((image) => image.url),
        })}\n`,
      );
    }
    return EXIT_OK;
  } catch (error) {
    return fail(EXIT_FAILED, error, json);
  } finally {
    follower.close();
    await client.close();
  }
}

/** A file-name-safe start of the prompt. */
export function slug(prompt: string): string {
  const text = prompt
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/g, '');
  return text === '' ? 'image' : text;
}

function shortId(taskId: string): string {
  return taskId.replace(/[^a-zA-Z0-9]/g, '').slice(0, 8) || 'task';
}

function extension(mime: string): string {
  if (mime === 'image/jpeg') return 'jpg';
  return mime.split('/')[1] ?? 'png';
}
