import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/core/config.js';
import { NanoBananaError } from '../src/core/errors.js';
import { checkAccess, checkBlockedWords } from '../src/core/jobs/policy.js';
import { matchingForm } from '../src/core/text-matching.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { API_TOKEN, createEngine, type EngineFixture, request } from './helpers/engine-fixture.js';

const load = (environment: Record<string, string>) =>
  loadConfig(environment, mkdtempSync(path.join(tmpdir(), 'nb-limits-')));

const policy = (blockedWords: string[], allowedServers?: string[]) => ({
  adminIds: new Set<string>(),
  allowedServers: allowedServers === undefined ? undefined : new Set(allowedServers),
  allowedChannels: undefined,
  blockedWords,
});

function refusalCode(action: () => void): string | undefined {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(NanoBananaError);
    return (error as NanoBananaError).code;
  }
  return undefined;
}

async function asyncRefusalCode(action: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await action();
  } catch (error) {
    expect(error).toBeInstanceOf(NanoBananaError);
    return (error as NanoBananaError).code;
  }
  return undefined;
}

describe('the limits settings', () => {
  it('default DMs to the per-server limit, ten queued jobs per user and mention-only replies', () => {
    const defaults = load({});
    expect(defaults.quotas.perDirectMessages).toBe(0);
    expect(defaults.engine.maxQueuedPerUser).toBe(10);
    expect(defaults.threadReplies).toBe('mention');
    expect(load({ NANO_BANANA_DAILY_IMAGES_PER_SERVER: '7' }).quotas.perDirectMessages).toBe(7);
    const own = load({
      NANO_BANANA_DAILY_IMAGES_PER_SERVER: '7',
      NANO_BANANA_DAILY_IMAGES_DM: '2',
    });
    expect(own.quotas.perDirectMessages).toBe(2);
    expect(load({ NANO_BANANA_THREAD_REPLIES: 'ANY' }).threadReplies).toBe('any');
  });

  it('name the variable when a value is wrong', () => {
    for (const [name, value] of [
      ['NANO_BANANA_DAILY_IMAGES_DM', 'lots'],
      ['NANO_BANANA_MAX_QUEUED_PER_USER', '0'],
      ['NANO_BANANA_THREAD_REPLIES', 'sometimes'],
    ] as const) {
      try {
        load({ [name]: value });
        throw new Error(`${name}=${value} was accepted`);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        expect((error as ConfigError).problems[0]).toMatch(new RegExp(`^${name}: expected`));
      }
    }
  });
});

describe('blocked words', () => {
  it('are compared without case, accents, invisible characters or look-alike letters', () => {
    expect(matchingForm('Forbid\u00ADden')).toBe('forbidden');
    expect(matchingForm('f\u043Erbidden')).toBe('forbidden');
    expect(matchingForm('ｆｏｒｂｉｄｄｅｎ')).toBe('forbidden');
    expect(matchingForm('forbid\u2060den\u200D')).toBe('forbidden');
    expect(matchingForm('Crème Brûlée')).toBe('creme brulee');
    const blocked = policy(['forbidden', 'bad word']);
    for (const prompt of [
      'a forbid\u00ADden cat',
      'a f\u043Erbidden cat',
      'a FORBIDDEN\u200B cat',
      'a BAD\u00A0WORD here',
    ]) {
      expect(
        refusalCode(() => checkBlockedWords(blocked, prompt)),
        prompt,
      ).toBe('blocked_prompt');
    }
    // Still whole words only.
    expect(refusalCode(() => checkBlockedWords(blocked, 'unforbiddenness'))).toBeUndefined();
  });
});

describe('the server allow-list', () => {
  it('lets direct messages in only when it holds dm', () => {
    const where = { serverId: undefined, channelId: 'D1' };
    expect(refusalCode(() => checkAccess(policy([], ['G1']), where))).toBe('not_allowed');
    expect(refusalCode(() => checkAccess(policy([], ['G1', 'dm']), where))).toBeUndefined();
    expect(refusalCode(() => checkAccess(policy([]), where))).toBeUndefined();
  });

  it('lets in the threads of an allowed channel (a result’s thread), and nothing else', () => {
    const channels = { ...policy([]), allowedChannels: new Set(['C1']) };
    const at = (channelId: string, parentChannelId?: string) =>
      refusalCode(() => checkAccess(channels, { serverId: 'G1', channelId, parentChannelId }));
    expect(at('C1')).toBeUndefined();
    expect(at('T1', 'C1')).toBeUndefined();
    expect(at('T2', 'C2')).toBe('not_allowed');
    expect(at('C2')).toBe('not_allowed');
  });
});

describe('the engine’s admission', () => {
  let api: MockApi;
  const fixtures: EngineFixture[] = [];
  beforeAll(async () => {
    api = await startMockApi({ token: API_TOKEN, delayMs: 50 });
  });
  afterAll(async () => {
    await Promise.all(fixtures.map((fixture) => fixture.close()));
    await api.close();
  });
  /** An engine that is never started: every accepted job stays queued. */
  const idleEngine = async (options: Parameters<typeof createEngine>[1]) => {
    const fixture = await createEngine(api, options);
    fixtures.push(fixture);
    return fixture.engine;
  };

  it('caps one user’s unfinished jobs, operator admins excepted; a cancel frees a place', async () => {
    const engine = await idleEngine({ limits: { maxQueuedPerUser: 3 } });
    const accepted = [];
    for (const index of [1, 2, 3]) accepted.push(await engine.submit(request(`mine ${index}`)));
    expect(await asyncRefusalCode(() => engine.submit(request('mine 4')))).toBe('too_many_queued');
    expect(await asyncRefusalCode(() => engine.check({ ...request('mine 4') }))).toBe(
      'too_many_queued',
    );
    expect((await engine.submit(request('bob’s', { requesterId: 'bob' }))).created).toBe(true);
    for (const index of [1, 2, 3, 4]) {
      expect(
        (await engine.submit(request(`admin ${index}`, { requesterId: 'admin' }))).created,
      ).toBe(true);
    }
    expect(await engine.cancel(accepted[0]?.job.id ?? '', 'alice')).toBe('cancelled');
    expect((await engine.submit(request('mine 4'))).created).toBe(true);
  });

  it('gives direct messages a daily bucket of their own, the per-server limit unless set', async () => {
    const inherited = await idleEngine({ quotas: { perUser: 0, perServer: 1, total: 0 } });
    await inherited.submit(request('server one'));
    await inherited.submit(request('dm one', { serverId: undefined }));
    let scope: unknown;
    try {
      await inherited.submit(request('dm two', { serverId: undefined, requesterId: 'bob' }));
    } catch (error) {
      scope = (error as NanoBananaError).params.scope;
    }
    expect(scope).toBe('dm');
    expect((await inherited.usage('bob', undefined)).server).toBe(0);

    const own = await idleEngine({
      quotas: { perUser: 0, perServer: 1, perDirectMessages: 3, total: 0 },
    });
    for (const index of [1, 2, 3]) {
      await own.submit(request(`dm ${index}`, { serverId: undefined }));
    }
    expect(await asyncRefusalCode(() => own.submit(request('dm 4', { serverId: undefined })))).toBe(
      'quota_exceeded',
    );
  });
});
