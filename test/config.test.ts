import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/logger.js';
import { createModelCatalog } from '../src/core/models.js';
import { duration } from '../src/core/settings.js';

const emptyFolder = () => mkdtempSync(path.join(tmpdir(), 'nb-config-'));

function problems(environment: Record<string, string>): readonly string[] {
  try {
    loadConfig(environment, emptyFolder());
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a configuration error');
}

describe('loadConfig', () => {
  it('has the documented defaults, every limit included', () => {
    const folder = emptyFolder();
    const { catalog, ...config } = loadConfig({}, folder);
    expect(config).toEqual({
      acedata: {
        apiToken: undefined,
        baseUrl: 'https://api.acedata.cloud',
        requestTimeoutMs: 60_000,
        pollIntervalMs: 1000,
      },
      defaultModel: 'nano-banana',
      maxPromptLength: 4000,
      logLevel: 'info',
      dataDir: path.join(folder, 'data'),
      service: {
        port: 3000,
        publicUrl: undefined,
        metricsToken: undefined,
        maxHttpConnections: 256,
        shutdownGraceMs: 8000,
      },
      engine: {
        maxConcurrentJobs: 8,
        maxJobsPerUser: 2,
        maxQueuedPerUser: 10,
        jobTimeoutMs: 15 * 60_000,
        retentionMs: 30 * 86_400_000,
        usedUpPauseMs: 10 * 60_000,
        leaseMs: 30_000,
      },
      // 0 is unlimited; the DMs' bucket follows the per-server limit when unset.
      quotas: { perUser: 0, perServer: 0, perDirectMessages: 0, total: 0 },
      access: {
        adminIds: new Set(),
        allowedServers: undefined,
        allowedChannels: undefined,
        blockedWords: [],
      },
      auditLocale: 'en',
      threadReplies: 'mention',
      upscaleModel: 'nano-banana-2',
      secrets: [],
    });
    // No extra models: the built-in catalogue only.
    expect(catalog.modelIds).toEqual(createModelCatalog().modelIds);
  });

  it('reads every limit from its variable, converted to the unit the code uses', () => {
    const config = loadConfig(
      {
        NANO_BANANA_REQUEST_TIMEOUT: '30',
        NANO_BANANA_POLL_INTERVAL_MS: '250',
        NANO_BANANA_MAX_PROMPT: '500',
        PORT: '8080',
        NANO_BANANA_MAX_HTTP_CONNECTIONS: '64',
        NANO_BANANA_SHUTDOWN_GRACE: '5',
        NANO_BANANA_MAX_CONCURRENT_JOBS: '3',
        NANO_BANANA_MAX_JOBS_PER_USER: '1',
        NANO_BANANA_MAX_QUEUED_PER_USER: '4',
        NANO_BANANA_JOB_TIMEOUT: '90s',
        NANO_BANANA_RETENTION_DAYS: '7',
        NANO_BANANA_USED_UP_PAUSE: '1h',
        NANO_BANANA_LEASE: '5s',
        NANO_BANANA_DAILY_IMAGES_PER_USER: '5',
        NANO_BANANA_DAILY_IMAGES_PER_SERVER: '50',
        NANO_BANANA_DAILY_IMAGES_TOTAL: '500',
      },
      emptyFolder(),
    );
    expect(config.acedata.requestTimeoutMs).toBe(30_000);
    expect(config.acedata.pollIntervalMs).toBe(250);
    expect(config.maxPromptLength).toBe(500);
    expect(config.service).toMatchObject({
      port: 8080,
      maxHttpConnections: 64,
      shutdownGraceMs: 5000,
    });
    expect(config.engine).toEqual({
      maxConcurrentJobs: 3,
      maxJobsPerUser: 1,
      maxQueuedPerUser: 4,
      jobTimeoutMs: 90_000,
      retentionMs: 7 * 86_400_000,
      usedUpPauseMs: 3_600_000,
      leaseMs: 5000,
    });
    expect(config.quotas).toEqual({ perUser: 5, perServer: 50, perDirectMessages: 50, total: 500 });
    const withDm = loadConfig(
      { NANO_BANANA_DAILY_IMAGES_PER_SERVER: '50', NANO_BANANA_DAILY_IMAGES_DM: '0' },
      emptyFolder(),
    );
    expect(withDm.quotas.perDirectMessages).toBe(0);
  });

  // Each whole-number limit: its smallest and largest values pass, one step outside is refused
  // with a message naming the variable and the range.
  it.each([
    ['NANO_BANANA_MAX_PROMPT', 1, 100_000],
    ['NANO_BANANA_REQUEST_TIMEOUT', 1, 3600],
    ['NANO_BANANA_POLL_INTERVAL_MS', 100, 60_000],
    ['PORT', 0, 65_535],
    ['NANO_BANANA_MAX_HTTP_CONNECTIONS', 1, 100_000],
    ['NANO_BANANA_MAX_CONCURRENT_JOBS', 1, 1000],
    ['NANO_BANANA_MAX_JOBS_PER_USER', 1, 100],
    ['NANO_BANANA_MAX_QUEUED_PER_USER', 1, 10_000],
    ['NANO_BANANA_RETENTION_DAYS', 1, 3650],
    ['NANO_BANANA_DAILY_IMAGES_PER_USER', 0, 1_000_000],
    ['NANO_BANANA_DAILY_IMAGES_PER_SERVER', 0, 1_000_000],
    ['NANO_BANANA_DAILY_IMAGES_DM', 0, 1_000_000],
    ['NANO_BANANA_DAILY_IMAGES_TOTAL', 0, 1_000_000],
  ])('bounds %s to %i…%i', (name, min, max) => {
    for (const accepted of [min, max]) {
      expect(() => loadConfig({ [name]: String(accepted) }, emptyFolder())).not.toThrow();
    }
    for (const refused of [String(min - 1), String(max + 1), '2.5', 'many']) {
      const found = problems({ [name]: refused });
      expect(found, refused).toHaveLength(1);
      expect(found[0], refused).toBe(
        `${name}: expected a whole number from ${min} to ${max}${name === 'NANO_BANANA_DAILY_IMAGES_DM' ? ', or nothing' : ''}, got "${refused}"`,
      );
    }
  });

  it.each([
    ['NANO_BANANA_JOB_TIMEOUT', '10s', '119m', '9s'],
    ['NANO_BANANA_USED_UP_PAUSE', '1s', '24h', '999ms'],
    ['NANO_BANANA_SHUTDOWN_GRACE', '0', '10m', '601s'],
    ['NANO_BANANA_LEASE', '2s', '1h', '1999ms'],
  ])('bounds the duration %s to %s…%s', (name, min, max, outside) => {
    expect(() => loadConfig({ [name]: min }, emptyFolder())).not.toThrow();
    expect(() => loadConfig({ [name]: max }, emptyFolder())).not.toThrow();
    expect(problems({ [name]: outside })[0]).toMatch(new RegExp(`^${name}: expected a duration`));
    expect(problems({ [name]: outside })[0]).toContain(`"${outside}"`);
  });

  it('reads a .env file, with the environment winning', () => {
    const folder = emptyFolder();
    writeFileSync(
      path.join(folder, '.env'),
      'ACEDATA_API_TOKEN=from-file\nNANO_BANANA_MAX_PROMPT=100\n',
    );
    const config = loadConfig({ NANO_BANANA_MAX_PROMPT: '200' }, folder);
    expect(config.acedata.apiToken).toBe('from-file');
    expect(config.maxPromptLength).toBe(200);
    expect(config.secrets).toEqual(['from-file']);
  });

  it('names the variable and what it expects', () => {
    expect(problems({ NANO_BANANA_MAX_PROMPT: 'lots' })[0]).toMatch(
      /^NANO_BANANA_MAX_PROMPT: expected a whole number/,
    );
    expect(problems({ ACEDATA_BASE_URL: 'ftp://x' })[0]).toMatch(
      /^ACEDATA_BASE_URL: expected an http\(s\) URL/,
    );
    expect(problems({ LOG_LEVEL: 'loud' })[0]).toMatch(/^LOG_LEVEL: expected one of/);
    expect(problems({ NANO_BANANA_DEFAULT_MODEL: 'dall-e' })[0]).toMatch(
      /^NANO_BANANA_DEFAULT_MODEL: expected one of nano-banana, /,
    );
    expect(problems({ NANO_BANANA_EXTRA_MODELS: 'x=9K' })[0]).toMatch(
      /^NANO_BANANA_EXTRA_MODELS: /,
    );
    // An upscale model must make what the Upscale buttons offer.
    expect(problems({ NANO_BANANA_UPSCALE_MODEL: 'lite' })[0]).toMatch(
      /^NANO_BANANA_UPSCALE_MODEL: expected a model that makes 2K and 4K images \(nano-banana-2, /,
    );
    expect(problems({ NANO_BANANA_UPSCALE_MODEL: 'dall-e' })[0]).toMatch(
      /^NANO_BANANA_UPSCALE_MODEL: /,
    );
  });

  it('stops within Docker’s 10 s by default', () => {
    const config = loadConfig({}, emptyFolder());
    expect(config.service.shutdownGraceMs).toBeLessThanOrEqual(8000);
    expect(config.service.shutdownGraceMs).toBeGreaterThan(0);
  });

  it('refuses a job timeout at or past the 2-hour give-up, saying why', () => {
    for (const value of ['2h', '120', '3h']) {
      const found = problems({ NANO_BANANA_JOB_TIMEOUT: value });
      expect(found[0], value).toMatch(/^NANO_BANANA_JOB_TIMEOUT: must be shorter than 2h/);
      expect(found[0], value).toContain('gives up');
      expect(found[0], value).toContain(value);
    }
    expect(loadConfig({ NANO_BANANA_JOB_TIMEOUT: '119m' }, emptyFolder()).engine.jobTimeoutMs).toBe(
      119 * 60_000,
    );
  });

  it('accepts a short model name as default and extra models from the environment', () => {
    const config = loadConfig(
      { NANO_BANANA_DEFAULT_MODEL: 'pro', NANO_BANANA_EXTRA_MODELS: 'nb-next=1K/4K' },
      emptyFolder(),
    );
    expect(config.defaultModel).toBe('nano-banana-pro');
    expect(config.catalog.find('nb-next')?.resolutions).toEqual(['1K', '4K']);
    expect(loadConfig({ NANO_BANANA_UPSCALE_MODEL: 'pro' }, emptyFolder()).upscaleModel).toBe(
      'nano-banana-pro',
    );
  });
});

describe('a duration setting', () => {
  const parse = (value: string | undefined, unit: 'ms' | 's' | 'm' | 'h' | 'd' = 'm') =>
    duration('15m', unit, 1000, 2 * 86_400_000).safeParse(value);
  const millisecondsOf = (value: string | undefined, unit?: 'ms' | 's' | 'm' | 'h' | 'd') => {
    const result = parse(value, unit);
    if (!result.success) throw new Error(`"${value}" was refused: ${result.error.message}`);
    return result.data;
  };
  const messageOf = (value: string) => {
    const result = parse(value);
    if (result.success) throw new Error(`"${value}" was accepted as ${result.data} ms`);
    return result.error.issues.map((issue) => issue.message).join('; ');
  };

  it('reads every unit into milliseconds', () => {
    expect(millisecondsOf('1500ms')).toBe(1500);
    expect(millisecondsOf('90s')).toBe(90_000);
    expect(millisecondsOf('15m')).toBe(900_000);
    expect(millisecondsOf('2h')).toBe(7_200_000);
    expect(millisecondsOf('1d')).toBe(86_400_000);
    expect(millisecondsOf('1.5h')).toBe(5_400_000);
    expect(millisecondsOf('2.0005s')).toBe(2001);
  });

  it('forgives case and spaces', () => {
    expect(millisecondsOf(' 90S ')).toBe(90_000);
    expect(millisecondsOf('90 s')).toBe(90_000);
    expect(millisecondsOf('2H')).toBe(7_200_000);
  });

  it('reads a bare number in the setting’s own unit', () => {
    expect(millisecondsOf('20', 'm')).toBe(1_200_000);
    expect(millisecondsOf('20', 's')).toBe(20_000);
    expect(millisecondsOf('2000', 'ms')).toBe(2000);
    expect(millisecondsOf('3', 'h')).toBe(10_800_000);
    expect(millisecondsOf('1', 'd')).toBe(86_400_000);
  });

  it('uses the default when unset or empty', () => {
    expect(millisecondsOf(undefined)).toBe(900_000);
    expect(millisecondsOf('')).toBe(900_000);
    expect(millisecondsOf('   ')).toBe(900_000);
  });

  it('accepts its bounds and refuses beyond them, naming the range', () => {
    expect(millisecondsOf('1s')).toBe(1000);
    expect(millisecondsOf('2d')).toBe(172_800_000);
    expect(millisecondsOf('48h')).toBe(172_800_000);
    expect(messageOf('999ms')).toBe('expected a duration from 1s to 2d, got "999ms"');
    expect(messageOf('2881m')).toBe('expected a duration from 1s to 2d, got "2881m"');
    expect(messageOf('0')).toBe('expected a duration from 1s to 2d, got "0"');
  });

  it.each(['soon', '-5m', '5 minutes', '5mins', '1h30m', 'm', '1e3s', '0x10s', '.5h', 'Infinity'])(
    'refuses "%s", saying what a duration looks like',
    (value) => {
      expect(messageOf(value)).toBe(
        `expected a duration such as 90s, 15m or 2h (a bare number is in m), got "${value.toLowerCase()}"`,
      );
    },
  );

  it('names the variable in the configuration error', () => {
    expect(problems({ NANO_BANANA_USED_UP_PAUSE: 'later' })).toEqual([
      'NANO_BANANA_USED_UP_PAUSE: expected a duration such as 90s, 15m or 2h (a bare number is in m), got "later"',
    ]);
    expect(problems({ NANO_BANANA_SHUTDOWN_GRACE: '11m' })).toEqual([
      'NANO_BANANA_SHUTDOWN_GRACE: expected a duration from 0s to 10m, got "11m"',
    ]);
  });
});

describe('the logger', () => {
  it('redacts token fields and any secret value, wherever it appears', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger({ secrets: ['sk-very-secret-value'], destination });
    logger.info({ headers: { authorization: 'Bearer abc' }, token: 'xyz' }, 'calling');
    logger.error(new Error('failed with sk-very-secret-value in the URL'), 'boom');
    logger.info({ nested: { apiToken: 'zzz' } }, 'nested');
    const output = lines.join('');
    expect(output).not.toContain('sk-very-secret-value');
    expect(output).not.toContain('Bearer abc');
    expect(output).not.toContain('"xyz"');
    expect(output).not.toContain('zzz');
    expect(output).toContain('[redacted]');
  });
});

describe('DATABASE_URL', () => {
  it('selects PostgreSQL with a postgres URL and keeps its password out of every log line', () => {
    const url = 'postgresql://bot:s%40cret-pw@db.internal:5432/nano?sslmode=require';
    const config = loadConfig({ DATABASE_URL: url }, emptyFolder());
    expect(config.databaseUrl).toBe(url);
    expect(config.secrets).toContain(url);
    expect(config.secrets).toContain('s@cret-pw');
    expect(loadConfig({}, emptyFolder()).databaseUrl).toBeUndefined();
  });

  it('refuses anything but a postgres URL without repeating it', () => {
    for (const wrong of ['mysql://bot:hunter2@db/nano', 'bot:hunter2@db/nano', 'https://db']) {
      const message = problems({ DATABASE_URL: wrong }).join('\n');
      expect(message).toContain('DATABASE_URL');
      expect(message).toContain('postgres://');
      expect(message).not.toContain('hunter2');
    }
  });
});
