import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/core/config.js';
import { NanoBananaError } from '../src/core/errors.js';
import { checkAccess, checkBlockedWords } from '../src/core/jobs/policy.js';
import { matchingForm } from '../src/core/text-matching.js';

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
});
