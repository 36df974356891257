import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/core/config.js';
import { createLogger } from '../src/core/logger.js';

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
  it('has the documented defaults', () => {
    const folder = emptyFolder();
    const config = loadConfig({}, folder);
    expect(config.acedata).toEqual({
      apiToken: undefined,
      baseUrl: 'https://api.acedata.cloud',
      requestTimeoutMs: 60_000,
      pollIntervalMs: 1000,
    });
    expect(config.defaultModel).toBe('nano-banana');
    expect(config.maxPromptLength).toBe(4000);
    expect(config.logLevel).toBe('info');
    expect(config.dataDir).toBe(path.join(folder, 'data'));
    expect(config.secrets).toEqual([]);
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
