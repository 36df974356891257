import { describe, expect, it } from 'vitest';
import { NanoBananaError } from '../src/core/errors.js';
import { Admissions } from '../src/core/jobs/admission.js';
import type { NewJob } from '../src/core/jobs/job.js';
import {
  checkServerChannels,
  checkServerLimitCeiling,
  type QuotaLimits,
  withServerLimit,
} from '../src/core/jobs/policy.js';
import type { JobStore } from '../src/core/jobs/store.js';
import { describeError } from '../src/core/messages.js';
import { createModelCatalog } from '../src/core/models.js';
import { serverSettingsLines } from '../src/core/preferences/server-settings-lines.js';

/** Issue 13: a server's own settings inside the operator's (channels, daily limit). */

const OPERATOR: QuotaLimits = { perUser: 0, perServer: 10, total: 0 };
const UNLIMITED: QuotaLimits = { perUser: 0, perServer: 0, total: 0 };

function refusal(action: () => void): NanoBananaError {
  try {
    action();
  } catch (error) {
    if (error instanceof NanoBananaError) return error;
    throw error;
  }
  throw new Error('no refusal');
}

describe('a server’s daily limit', () => {
  it('is the tighter of the server’s and the operator’s', () => {
    expect(withServerLimit(OPERATOR, { dailyImages: 3 }).perServer).toBe(3);
    expect(withServerLimit(OPERATOR, { dailyImages: 30 }).perServer).toBe(10);
    expect(withServerLimit(UNLIMITED, { dailyImages: 3 }).perServer).toBe(3);
    expect(withServerLimit(OPERATOR, {}).perServer).toBe(10);
  });

  it('leaves direct messages their own bucket, the operator’s per-server limit by default', () => {
    expect(withServerLimit(OPERATOR, { dailyImages: 3 }).perDirectMessages).toBe(10);
    const withDm = { ...OPERATOR, perDirectMessages: 2 };
    expect(withServerLimit(withDm, { dailyImages: 3 }).perDirectMessages).toBe(2);
  });

  it('may not be set above the operator’s, and may be anything without one', () => {
    expect(() => checkServerLimitCeiling(OPERATOR, 10)).not.toThrow();
    expect(() => checkServerLimitCeiling(OPERATOR, undefined)).not.toThrow();
    expect(() => checkServerLimitCeiling(UNLIMITED, 500)).not.toThrow();
    const error = refusal(() => checkServerLimitCeiling(OPERATOR, 11));
    expect(error.params).toEqual({ reason: 'limit_above_ceiling', value: 11, max: 10 });
    expect(describeError(error, 'fr')).toBe(
      'La limite quotidienne peut être au plus de 10 images\u202F: c’est le plafond fixé par l’opérateur du bot.',
    );
  });
});

describe('a server’s channels', () => {
  it('let every channel in when none is listed, and only the listed ones otherwise', () => {
    expect(() => checkServerChannels({}, { channelId: 'C1' })).not.toThrow();
    expect(() => checkServerChannels({ channels: [] }, { channelId: 'C1' })).not.toThrow();
    expect(() =>
      checkServerChannels({ channels: ['C1', 'C2'] }, { channelId: 'C2' }),
    ).not.toThrow();
    const error = refusal(() =>
      checkServerChannels({ channels: ['C1', 'C2'] }, { channelId: 'C3' }),
    );
    expect(error.code).toBe('not_allowed');
    expect(describeError(error, 'en')).toBe('I only answer in <#C1>, <#C2> on this server.');
  });

  it('admit a thread of a listed channel', () => {
    const where = { channelId: 'T1', parentChannelId: 'C1' };
    expect(() => checkServerChannels({ channels: ['C1'] }, where)).not.toThrow();
    expect(() => checkServerChannels({ channels: ['C2'] }, where)).toThrow(NanoBananaError);
  });

  it('name only ids as links: a stored value with markup is left out', () => {
    const error = refusal(() =>
      checkServerChannels({ channels: ['C1', '<!everyone>'] }, { channelId: 'C3' }),
    );
    expect(describeError(error, 'en')).toBe('I only answer in <#C1> on this server.');
  });
});

describe('the settings as shown', () => {
  it('say what applies where nothing is set, and leave Discord’s own out elsewhere', () => {
    const lines = serverSettingsLines('en', {}, { operatorLimit: 0, discordOnly: false });
    expect(lines).toEqual([
      'Default model: the bot’s default',
      'Default aspect ratio: the bot’s default',
      'Default resolution: the bot’s default',
      'Channels I answer in: all',
      'Daily image limit: none',
      'Moderation log: none',
    ]);
    const discord = serverSettingsLines(
      'en',
      { threads: false },
      { operatorLimit: 0, discordOnly: true },
    );
    expect(discord.slice(-2)).toEqual([
      'Results private by default: no',
      'Results open a thread: no',
    ]);
  });
});

describe('the admission of a request in a server with settings', () => {
  const admissions = new Admissions({
    // `admit` makes no store call: the store checks its admission atomically afterwards.
    store: {} as JobStore,
    clock: { now: () => Date.UTC(2026, 11, 6, 12), sleep: async () => {} },
    requestLimits: {
      catalog: createModelCatalog(),
      defaultModel: 'nano-banana',
      maxPromptLength: 4000,
    },
    access: {
      adminIds: new Set(),
      allowedServers: undefined,
      allowedChannels: undefined,
      blockedWords: [],
    },
    quotas: OPERATOR,
    maxQueuedPerUser: 5,
  });
  const request: NewJob = {
    platform: 'discord',
    requesterId: 'U1',
    serverId: 'G1',
    channelId: 'C1',
    locale: 'en',
    action: 'generate',
    prompt: 'a fox',
    options: { model: 'nano-banana' },
    inputs: [],
    destination: undefined,
  };

  it('gives the store the server’s own limit to check atomically', () => {
    const { admission } = admissions.admit(request, {
      server: { dailyImages: 2 },
      preferences: {},
    });
    expect(admission.quotas.find((quota) => quota.scope === 'server')?.limit).toBe(2);
    const without = admissions.admit(request).admission;
    expect(without.quotas.find((quota) => quota.scope === 'server')?.limit).toBe(10);
  });

  it('refuses a channel the server did not list before anything is stored', () => {
    expect(() =>
      admissions.admit(request, { server: { channels: ['C2'] }, preferences: {} }),
    ).toThrow(NanoBananaError);
    expect(() =>
      admissions.admit(request, { server: { channels: ['C1'] }, preferences: {} }),
    ).not.toThrow();
  });
});
