import { describeMockApi, startMockApi } from '../mock-api/index.js';
import { splitArguments } from './arguments.js';
import { type CliContext, EXIT_OK, EXIT_USAGE } from './context.js';

export const MOCK_API_USAGE = `Usage: nano-banana mock-api [--port P] [--delay MS] [--token T] [--incompressible]

A local server that speaks the Nano Banana API, to try the bots without spending credits:
point ACEDATA_BASE_URL at the URL it prints. Stops on Ctrl-C.`;

export async function mockApiCommand(
  args: readonly string[],
  context: CliContext,
): Promise<number> {
  let port: number;
  let delayMs: number;
  let split: ReturnType<typeof splitArguments>;
  try {
    split = splitArguments(args, {
      port: { value: true },
      delay: { value: true },
      token: { value: true },
      host: { value: true },
      incompressible: { value: false },
      help: { value: false },
    });
    port = wholeNumber(split.options.get('port')?.[0] ?? '8787', 'port', 0, 65_535);
    delayMs = wholeNumber(split.options.get('delay')?.[0] ?? '2000', 'delay', 0, 3_600_000);
    if (split.text.trim() !== '') throw new Error(`unexpected "${split.text.trim()}"`);
  } catch (error) {
    context.stderr.write(`nano-banana: ${(error as Error).message}\n${MOCK_API_USAGE}\n`);
    return EXIT_USAGE;
  }
  if (split.options.has('help')) {
    context.stdout.write(`${MOCK_API_USAGE}\n`);
    return EXIT_OK;
  }
  const token = split.options.get('token')?.[0];
  const api = await startMockApi({
    port,
    delayMs,
    host: split.options.get('host')?.[0] ?? '127.0.0.1',
    incompressible: split.options.has('incompressible'),
    ...(token === undefined ? {} : { token }),
  });
  context.stdout.write(`${describeMockApi(api)}\n`);
  await new Promise<void>((resolve) => {
    if (context.stopSignal === undefined || context.stopSignal.aborted) resolve();
    else context.stopSignal.addEventListener('abort', () => resolve(), { once: true });
  });
  await api.close();
  return EXIT_OK;
}

function wholeNumber(text: string, name: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`--${name} expects a whole number from ${min} to ${max}, got "${text}"`);
  }
  return value;
}
