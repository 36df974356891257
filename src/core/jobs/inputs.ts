import { invalidInput } from '../errors.js';
import type { InputImage, PreparedInputImage } from '../images/index.js';
import type { PlatformAdapter } from './adapter.js';
import type { Job } from './job.js';

/**
 * The inline (`data:` URL) input images of one job together, in bytes before base64: each file may
 * be 10 MB, and a request many times that is refused or slow upstream and heavy here.
 */
export const MAX_INLINE_INPUT_BYTES = 30_000_000;

/**
 * Fetches a job's input images (platform files through their adapter) and prepares each for the
 * create: the URLs to send, refused together past `MAX_INLINE_INPUT_BYTES`.
 */
export async function prepareInputs(
  job: Job,
  adapter: PlatformAdapter | undefined,
  prepareInput: (image: InputImage, signal: AbortSignal) => Promise<PreparedInputImage>,
  signal: AbortSignal,
): Promise<string[]> {
  const prepared: { url: string; bytes: number; name: string }[] = [];
  let total = 0;
  for (const [index, input] of job.inputs.entries()) {
    const image: InputImage =
      input.kind === 'url'
        ? { kind: 'url', url: input.url }
        : await (adapter as PlatformAdapter).fetchInput(job, input, signal);
    const { url, bytes } = await prepareInput(image, signal);
    const name = input.kind === 'platform' ? input.name : undefined;
    total += bytes;
    // Past the limit only the sizes matter (to name what to leave out): the data is let go.
    prepared.push({
      url: total > MAX_INLINE_INPUT_BYTES ? '' : url,
      bytes,
      name: name ?? `#${index + 1}`,
    });
  }
  checkInlineTotal(prepared);
  return prepared.map((input) => input.url);
}

/**
 * Refuses inline inputs over `MAX_INLINE_INPUT_BYTES` together, before anything is sent, naming
 * the files to leave out: the largest first, as few as bring the rest under the limit.
 */
function checkInlineTotal(inputs: readonly { bytes: number; name: string }[]): void {
  const total = inputs.reduce((sum, input) => sum + input.bytes, 0);
  if (total <= MAX_INLINE_INPUT_BYTES) return;
  const largestFirst = [...inputs].sort((first, second) => second.bytes - first.bytes);
  const names: string[] = [];
  let remaining = total;
  for (const input of largestFirst) {
    if (remaining <= MAX_INLINE_INPUT_BYTES) break;
    names.push(input.name);
    remaining -= input.bytes;
  }
  throw invalidInput('inputs_too_large', 'The inline input images are too large together', {
    names,
    total,
    max: MAX_INLINE_INPUT_BYTES,
    megabytes: MAX_INLINE_INPUT_BYTES / 1_000_000,
  });
}
