import { NanoBananaClient } from '../core/api/client.js';
import { environmentWithDotEnv } from '../core/config.js';
import { ConfigError, createLogger, loadConfig } from '../core/index.js';
import { StoreInUseError } from '../core/jobs/store-lock.js';
import { startService } from '../service/service.js';
import { type CliContext, EXIT_FAILED, EXIT_OK } from './context.js';
import { enabledPlatforms, PLATFORMS, platformSecrets } from './platforms.js';

export const START_USAGE = `Usage: nano-banana start

Runs every bot whose token is set (${PLATFORMS.map((platform) => platform.enabledBy).join(', ')}), sharing one job
engine, one store in DATA_DIR and one HTTP server on PORT (/healthz, /readyz, /metrics).
Stops cleanly on SIGTERM or Ctrl-C.`;

/**
 * Runs the bots until asked to stop. Exits 1 with a short guide when no platform is configured, or
 * when a token is refused, naming which one.
 */
export async function startCommand(args: readonly string[], context: CliContext): Promise<number> {
  if (args.includes('--help')) {
    context.stdout.write(`${START_USAGE}\n`);
    return EXIT_OK;
  }
  // The same view of the settings the configuration has: .env first, the environment over it.
  const environment = environmentWithDotEnv(context.env, context.cwd);
  const platforms = enabledPlatforms(environment);
  if (platforms.length === 0) {
    context.stderr.write(
      [
        'nano-banana start: no chat platform is configured, so there is nothing to run.',
        ...PLATFORMS.map((platform) => `  ${platform.guide}`),
        '  And set ACEDATA_API_TOKEN to your AceData Cloud API token. See README.md for every setting.',
        '',
      ].join('\n'),
    );
    return EXIT_FAILED;
  }
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig(environment, context.cwd);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    context.stderr.write(`${error.message}\n`);
    return EXIT_FAILED;
  }
  if (config.acedata.apiToken === undefined) {
    context.stderr.write(
      'nano-banana start: set ACEDATA_API_TOKEN to your AceData Cloud API token.\n',
    );
    return EXIT_FAILED;
  }
  const logger = createLogger({
    level: config.logLevel,
    secrets: [...config.secrets, ...platformSecrets(environment)],
    destination: { write: (line: string) => context.stderr.write(line) },
  });
  const refused = await checkApiToken(config.acedata.apiToken, config.acedata.baseUrl);
  if (refused !== undefined) {
    context.stderr.write(`nano-banana start: ${refused}\n`);
    return EXIT_FAILED;
  }
  // A library's stray rejection (a malformed event deep in a platform SDK, say) is logged, not
  // allowed to end the process and every job in flight with it: the store has them all anyway.
  const onStray = (reason: unknown) =>
    logger.error({ err: reason }, 'Unhandled rejection; carrying on');
  process.on('unhandledRejection', onStray);
  let service: Awaited<ReturnType<typeof startService>>;
  try {
    service = await startService({
      config,
      env: environment,
      logger,
      adapters: platforms.map((platform) => platform.factory),
    });
  } catch (error) {
    process.off('unhandledRejection', onStray);
    context.stderr.write(
      `nano-banana start: ${error instanceof StoreInUseError ? storeInUse(config.dataDir, error) : error instanceof Error ? error.message : String(error)}\n`,
    );
    return EXIT_FAILED;
  }
  // A second SIGINT or SIGTERM must not kill the process halfway through its stop: a terminal's
  // Ctrl-C reaches both this process and the launcher that passes signals on (bin/), and systemd
  // signals every process of a unit. The stop ends within the grace anyway.
  let signals = 0;
  const onRepeatedSignal = () => {
    signals += 1;
    if (signals > 1) logger.info('Already stopping; this ends within the grace');
  };
  process.on('SIGINT', onRepeatedSignal);
  process.on('SIGTERM', onRepeatedSignal);
  await new Promise<void>((resolve) => {
    if (context.stopSignal === undefined || context.stopSignal.aborted) resolve();
    else context.stopSignal.addEventListener('abort', () => resolve(), { once: true });
  });
  await service.stop();
  process.off('SIGINT', onRepeatedSignal);
  process.off('SIGTERM', onRepeatedSignal);
  process.off('unhandledRejection', onStray);
  return EXIT_OK;
}

/** Two processes on one store would run the same jobs twice: the second one stops, saying why. */
function storeInUse(dataDir: string, error: StoreInUseError): string {
  const holder = error.holderPid === undefined ? '' : ` (pid ${error.holderPid})`;
  return (
    `DATA_DIR ${dataDir} is in use by another nano-banana process${holder}. ` +
    'Two processes on one store would post the same jobs twice: stop the other one first, or ' +
    'give this one its own DATA_DIR.'
  );
}

/**
 * Checks the API token with a free call: retrieving a task costs nothing, and a wrong token is
 * refused whatever the id. Only a refusal stops the start; the API being unreachable does not.
 */
async function checkApiToken(apiToken: string, baseUrl: string): Promise<string | undefined> {
  const client = new NanoBananaClient({
    apiToken,
    baseUrl,
    timeoutMs: 10_000,
    retrieveRetry: { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0 },
  });
  try {
    await client.retrieveTask('nano-banana-token-check');
    return undefined;
  } catch (error) {
    const code = (error as { code?: string }).code;
    return code === 'auth_failed'
      ? 'AceData Cloud refused ACEDATA_API_TOKEN: check the token in your AceData Cloud console.'
      : undefined;
  } finally {
    await client.close();
  }
}
