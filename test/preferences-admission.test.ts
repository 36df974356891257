import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NanoBananaError } from '../src/core/errors.js';
import { type AdmissionOptions, Admissions, newJob } from '../src/core/jobs/admission.js';
import type { NewJob } from '../src/core/jobs/job.js';
import type { JobStore } from '../src/core/jobs/store.js';
import { openSqliteStore } from '../src/core/jobs/stores/sqlite.js';
import { describeError } from '../src/core/messages.js';
import { createModelCatalog } from '../src/core/models.js';
import type { OptionDefaults, PersonalDefaults } from '../src/core/preferences/resolve.js';

/** Settings as admission reads them, kept in memory: what the store would hold per key. */
class MemorySettings {
  readonly servers = new Map<string, OptionDefaults>();
  readonly preferencesByUser = new Map<string, PersonalDefaults>();
  readonly reads: string[] = [];

  async server(platform: string, serverId: string): Promise<OptionDefaults> {
    this.reads.push(`server:${platform}:${serverId}`);
    return this.servers.get(`${platform}:${serverId}`) ?? {};
  }

  async preferences(platform: string, userId: string): Promise<PersonalDefaults> {
    this.reads.push(`user:${platform}:${userId}`);
    return this.preferencesByUser.get(`${platform}:${userId}`) ?? {};
  }
}

let store: JobStore;
let settings: MemorySettings;

beforeEach(async () => {
  store = await openSqliteStore({ path: ':memory:' });
  settings = new MemorySettings();
});

afterEach(async () => {
  await store.close();
});

function admissions(overrides: Partial<AdmissionOptions> = {}): Admissions {
  return new Admissions({
    store,
    clock: { now: () => Date.parse('2026-12-06T10:00:00Z'), sleep: async () => {} },
    requestLimits: {
      catalog: createModelCatalog(),
      defaultModel: 'nano-banana',
      maxPromptLength: 60,
    },
    access: {
      adminIds: new Set(),
      allowedServers: undefined,
      allowedChannels: undefined,
      blockedWords: ['gore'],
    },
    quotas: { perUser: 0, perServer: 0, total: 0 },
    maxQueuedPerUser: 10,
    settings,
    ...overrides,
  });
}

function request(prompt: string, extra: Partial<NewJob> = {}): NewJob {
  return {
    platform: 'discord',
    requesterId: 'alice',
    serverId: 'guild-1',
    channelId: 'channel-1',
    locale: 'en',
    action: 'generate',
    prompt,
    options: {},
    inputs: [],
    destination: undefined,
    ...extra,
  };
}

async function refusal(promise: Promise<unknown>): Promise<NanoBananaError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof NanoBananaError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('admission applies preferences and server settings', () => {
  it('resolves the defaults of the requester on that platform and server, and stores them', async () => {
    settings.preferencesByUser.set('discord:alice', {
      model: 'nano-banana-pro',
      suffix: 'soft light',
    });
    settings.servers.set('discord:guild-1', { aspectRatio: '16:9', model: 'nano-banana-2' });
    const gate = admissions();
    const admitted = await gate.admit(request('a red fox'));
    expect(settings.reads.sort()).toEqual(['server:discord:guild-1', 'user:discord:alice']);
    const job = newJob(request('a red fox'), admitted, 1);
    expect(job.prompt).toBe('a red fox, soft light');
    expect(job.options).toEqual({
      model: 'nano-banana-pro',
      aspectRatio: '16:9',
      resolution: undefined,
      count: undefined,
      appliedDefaults: [
        { setting: 'model', source: 'preferences' },
        { setting: 'aspectRatio', source: 'server' },
        { setting: 'suffix', source: 'preferences' },
      ],
    });

    // Stored and read back as they were (the options column is JSON: no migration).
    await store.insert(job);
    expect((await store.get(job.id))?.options.appliedDefaults).toEqual(job.options.appliedDefaults);
  });

  it('reads no server settings in a direct message, and no one else’s preferences', async () => {
    settings.preferencesByUser.set('discord:bob', { model: 'nano-banana-pro' });
    settings.preferencesByUser.set('slack:alice', { model: 'nano-banana-pro' });
    const admitted = await admissions().admit(request('a red fox', { serverId: undefined }));
    expect(settings.reads).toEqual(['user:discord:alice']);
    expect(admitted.validated.model).toBe('nano-banana');
    expect(admitted.appliedDefaults).toEqual([]);
  });

  it('lets a request’s own option beat the preference', async () => {
    settings.preferencesByUser.set('discord:alice', {
      model: 'nano-banana-pro',
      aspectRatio: '16:9',
    });
    const admitted = await admissions().admit(
      request('a red fox', { options: { model: 'nano-banana-2' } }),
    );
    expect(admitted.validated.model).toBe('nano-banana-2');
    expect(admitted.validated.aspectRatio).toBe('16:9');
    expect(admitted.appliedDefaults).toEqual([{ setting: 'aspectRatio', source: 'preferences' }]);
  });

  it('expands a style, and refuses an unknown one with the member’s styles', async () => {
    settings.preferencesByUser.set('discord:alice', { styles: { ink: 'ink wash' } });
    const admitted = await admissions().admit(request('a red fox', { style: 'ink' }));
    expect(admitted.validated.prompt).toBe('a red fox, ink wash');
    const error = await refusal(admissions().check(request('a red fox', { style: 'noir' })));
    expect(describeError(error, 'en')).toBe('You have no style called “noir”. Your styles: ink.');
  });

  it('adds no style or suffix again to a prompt copied from an earlier job', async () => {
    settings.preferencesByUser.set('discord:alice', { suffix: 'soft light' });
    const admitted = await admissions().admit(
      request('a red fox, soft light', {
        promptIsFinal: true,
        options: { model: 'nano-banana' },
      }),
    );
    expect(admitted.validated.prompt).toBe('a red fox, soft light');
    expect(admitted.appliedDefaults).toEqual([]);
  });

  it('refuses a blocked word inside a style, saying it is in the style', async () => {
    settings.preferencesByUser.set('discord:alice', { styles: { horror: 'lots of GORE' } });
    const error = await refusal(admissions().check(request('a red fox', { style: 'horror' })));
    expect(error.code).toBe('blocked_prompt');
    expect(error.params).toMatchObject({ word: 'gore', source: 'style' });
    expect(describeError(error, 'en')).toBe(
      'Your style contains a word that isn’t allowed here. Change the style or leave it out.',
    );
    expect(describeError(error, 'fr')).toContain('Votre style contient un mot interdit');
  });

  it('refuses a blocked word inside the suffix, and in the typed prompt as before', async () => {
    settings.preferencesByUser.set('discord:alice', { suffix: 'gore' });
    const inSuffix = await refusal(admissions().admit(request('a red fox')));
    expect(inSuffix.params.source).toBe('suffix');
    settings.preferencesByUser.set('discord:alice', { suffix: 'soft light' });
    const typed = await refusal(admissions().admit(request('a gore fox')));
    expect(typed.code).toBe('blocked_prompt');
    expect(typed.params.source).toBeUndefined();
  });

  it('counts the style and suffix against the longest prompt, and says they did', async () => {
    // 60 characters at most: 20 typed + 45 from the suffix.
    settings.preferencesByUser.set('discord:alice', { suffix: 'x'.repeat(45) });
    const error = await refusal(admissions().check(request('a'.repeat(20))));
    expect(error.params).toMatchObject({
      reason: 'prompt_too_long',
      length: 67,
      max: 60,
      added: 47,
    });
    expect(describeError(error, 'en')).toBe(
      'Your prompt is too long: 67 characters, the limit is 60. Your style and suffix add 47 of them.',
    );
    expect(describeError(error, 'fr')).toContain('Votre style et votre suffixe en ajoutent 47.');
    // Without the suffix the same prompt passes.
    settings.preferencesByUser.delete('discord:alice');
    await expect(admissions().check(request('a'.repeat(20)))).resolves.toBeDefined();
  });

  it('without settings to read, only the operator default applies', async () => {
    const admitted = await admissions({ settings: undefined }).admit(request('a red fox'));
    expect(admitted.validated.model).toBe('nano-banana');
    expect(admitted.appliedDefaults).toEqual([]);
  });
});
