/**
 * The moderation log's lines: the same shape on every platform, in the log's language, the prompt
 * on one line and shortened, the failure's code and sentence.
 */
import { describe, expect, it } from 'vitest';
import {
  AUDIT_PROMPT_CHARS,
  type AuditLineParts,
  clipLine,
  composeAuditLine,
  linesThatFit,
} from '../src/core/audit/index.js';
import { NanoBananaError } from '../src/core/errors.js';
import type { Job, NewJob } from '../src/core/index.js';

const parts: AuditLineParts = {
  who: (userId) => `@${userId}`,
  where: (channelId) => `#${channelId}`,
  quote: (prompt) => `[${prompt}]`,
  code: (text) => `{${text}}`,
  isPrivate: (job) => job.destination === 'private',
  result: async (job) => (job.delivery === undefined ? undefined : `link:${job.id}`),
  failure: (error, locale) => `${locale}:${error.code}`,
};

function job(fields: Partial<Job>): Job {
  return {
    id: 'j1',
    platform: 'chat',
    requesterId: 'u1',
    serverId: 's1',
    channelId: 'c1',
    prompt: 'a cat',
    state: 'queued',
    destination: undefined,
    delivery: undefined,
    error: undefined,
    ...fields,
  } as Job;
}

describe('composeAuditLine', () => {
  it('writes each event in English and in French', async () => {
    const accepted = { kind: 'accepted', job: job({ destination: 'private' }) } as const;
    expect(await composeAuditLine(accepted, 'en', parts)).toBe(
      '📝 {j1} @u1 asked in #c1 (private): [a cat]',
    );
    expect(await composeAuditLine(accepted, 'fr', parts)).toBe(
      '📝 {j1} @u1 a demandé dans #c1 (privé)\u202F: [a cat]',
    );
    const done = { kind: 'finished', job: job({ state: 'done', delivery: {} }) } as const;
    expect(await composeAuditLine(done, 'en', parts)).toBe('✅ {j1} result: link:j1');
    expect(await composeAuditLine(done, 'fr', parts)).toBe('✅ {j1} résultat\u202F: link:j1');
    const failed = {
      kind: 'finished',
      job: job({ state: 'failed', error: { code: 'moderation_blocked', params: {} } }),
    } as const;
    expect(await composeAuditLine(failed, 'fr', parts)).toBe(
      '❌ {j1} échec (moderation_blocked)\u202F: fr:moderation_blocked',
    );
    const cancelled = { kind: 'finished', job: job({ state: 'cancelled' }) } as const;
    expect(await composeAuditLine(cancelled, 'en', parts)).toBe('⏹️ {j1} cancelled');
    const request = {
      platform: 'chat',
      requesterId: 'u2',
      channelId: 'c2',
      prompt: 'x y',
    } as NewJob;
    const error = new NanoBananaError('blocked_prompt', 'blocked', { params: { word: 'y' } });
    expect(await composeAuditLine({ kind: 'refused', request, error }, 'en', parts)).toBe(
      '🚫 @u2 was refused in #c2: blocked word “y”: [x y]',
    );
  });

  it('puts the prompt on one line and shortens it', async () => {
    const long = `first line\nsecond ${'word '.repeat(100)}`;
    const line = await composeAuditLine(
      { kind: 'accepted', job: job({ prompt: long }) },
      'en',
      parts,
    );
    const quoted = line?.slice(line.indexOf('[') + 1, -1) ?? '';
    expect(quoted.includes('\n')).toBe(false);
    expect(quoted.startsWith('first line second word')).toBe(true);
    expect([...quoted]).toHaveLength(AUDIT_PROMPT_CHARS);
    expect(quoted.endsWith('…')).toBe(true);
  });
});

describe('packing lines', () => {
  it('clips a line to the size, never through an emoji, and fills messages up to it', () => {
    const line = `${'📝'.repeat(10)}`;
    const clipped = clipLine(line, 8);
    expect(clipped.length).toBeLessThanOrEqual(8);
    expect(clipped).toBe('📝📝📝…');
    expect(clipLine('short', 8)).toBe('short');
    // 4 + 1 + 4 = 9 fits in 9; a third line does not.
    expect(linesThatFit(['abcd', 'efgh', 'ijkl'], 9)).toBe(2);
    // A line alone always goes.
    expect(linesThatFit(['far too long for it'], 5)).toBe(1);
  });
});
