import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NanoBananaError } from '../src/core/errors.js';
import {
  type AdmissionOptions,
  Admissions,
  type Admitted,
  newJob,
} from '../src/core/jobs/admission.js';
import type { NewJob } from '../src/core/jobs/job.js';
import type { JobStore } from '../src/core/jobs/store.js';
import { openPostgresStore } from '../src/core/jobs/stores/postgres.js';
import { openSqliteStore } from '../src/core/jobs/stores/sqlite.js';
import { describeError } from '../src/core/messages.js';
import { createModelCatalog } from '../src/core/models.js';
import type { ServerSettings } from '../src/core/preferences/server-settings.js';
import { SettingsBook } from '../src/core/preferences/settings-book.js';
import type { UserPreferences } from '../src/core/preferences/user-preferences.js';
import { freshDatabase } from './helpers/postgres.js';

const clock = { now: () => Date.parse('2026-12-06T10:00:00Z'), sleep: async () => {} };
const catalog = createModelCatalog();

/** The stored settings (the real book over the store), recording what admission reads. */
class RecordingSettings {
  readonly book: SettingsBook;
  readonly reads: string[] = [];

  constructor(book: SettingsBook) {
    this.book = book;
  }

  server(platform: string, serverId: string): Promise<ServerSettings> {
    this.reads.push(`server:${platform}:${serverId}`);
    return this.book.server(platform, serverId);
  }

  preferences(platform: string, userId: string): Promise<UserPreferences> {
    this.reads.push(`user:${platform}:${userId}`);
    return this.book.preferences(platform, userId);
  }
}

let store: JobStore;
let settings: RecordingSettings;

beforeEach(async () => {
  store = await openSqliteStore({ path: ':memory:' });
  settings = new RecordingSettings(new SettingsBook({ store, clock, catalog }));
});

afterEach(async () => {
  await store.close();
});

function prefer(userId: string, preferences: UserPreferences, platform = 'discord') {
  return settings.book.savePreferences(platform, userId, preferences);
}

function admissions(overrides: Partial<AdmissionOptions> = {}): Admissions {
  return new Admissions({
    store,
    clock,
    requestLimits: { catalog, defaultModel: 'nano-banana', maxPromptLength: 60 },
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

/** What `submit` does: the settings read once, then the checks that need no store. */
async function admit(gate: Admissions, job: NewJob): Promise<Admitted> {
  return gate.admit(job, await gate.settingsFor(job));
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
    await prefer('alice', { model: 'pro', suffix: 'soft light' });
    await settings.book.saveServer('discord', 'guild-1', {
      aspectRatio: '16:9',
      model: 'nano-banana-2',
    });
    const admitted = await admit(admissions(), request('a red fox'));
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
    await prefer('bob', { model: 'nano-banana-pro' });
    await prefer('alice', { model: 'nano-banana-pro' }, 'slack');
    const admitted = await admit(admissions(), request('a red fox', { serverId: undefined }));
    expect(settings.reads).toEqual(['user:discord:alice']);
    expect(admitted.validated.model).toBe('nano-banana');
    expect(admitted.appliedDefaults).toEqual([]);
  });

  it('lets a request’s own option beat the preference', async () => {
    await prefer('alice', { model: 'nano-banana-pro', aspectRatio: '16:9' });
    const admitted = await admit(
      admissions(),
      request('a red fox', { options: { model: 'nano-banana-2' } }),
    );
    expect(admitted.validated.model).toBe('nano-banana-2');
    expect(admitted.validated.aspectRatio).toBe('16:9');
    expect(admitted.appliedDefaults).toEqual([{ setting: 'aspectRatio', source: 'preferences' }]);
  });

  it('expands a style, and refuses an unknown one with the member’s styles', async () => {
    await prefer('alice', { styles: { ink: 'ink wash' } });
    const admitted = await admit(admissions(), request('a red fox', { style: 'ink' }));
    expect(admitted.validated.prompt).toBe('a red fox, ink wash');
    const error = await refusal(admissions().check(request('a red fox', { style: 'noir' })));
    expect(describeError(error, 'en')).toBe('You have no style called “noir”. Your styles: ink.');
  });

  it('adds no style or suffix again to a prompt copied from an earlier job', async () => {
    await prefer('alice', { suffix: 'soft light' });
    const admitted = await admit(
      admissions(),
      request('a red fox, soft light', { promptIsFinal: true, options: { model: 'nano-banana' } }),
    );
    expect(admitted.validated.prompt).toBe('a red fox, soft light');
    expect(admitted.appliedDefaults).toEqual([]);
  });

  it('refuses a blocked word inside a style, saying it is in the style', async () => {
    await prefer('alice', { styles: { horror: 'lots of GORE' } });
    const error = await refusal(admissions().check(request('a red fox', { style: 'horror' })));
    expect(error.code).toBe('blocked_prompt');
    expect(error.params).toMatchObject({ word: 'gore', source: 'style' });
    expect(describeError(error, 'en')).toBe(
      'Your style contains a word that isn’t allowed here. Change the style or leave it out.',
    );
    expect(describeError(error, 'fr')).toContain('Votre style contient un mot interdit');
  });

  it('refuses a blocked word inside the suffix, and in the typed prompt as before', async () => {
    await prefer('alice', { suffix: 'gore' });
    const inSuffix = await refusal(admit(admissions(), request('a red fox')));
    expect(inSuffix.params.source).toBe('suffix');
    await prefer('alice', { suffix: 'soft light' });
    const typed = await refusal(admit(admissions(), request('a gore fox')));
    expect(typed.code).toBe('blocked_prompt');
    expect(typed.params.source).toBeUndefined();
  });

  it('counts the style and suffix against the longest prompt, and says they did', async () => {
    // 60 characters at most: 20 typed, then ", " and 45 from the suffix.
    await prefer('alice', { suffix: 'x'.repeat(45) });
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
    await prefer('alice', {});
    await expect(admissions().check(request('a'.repeat(20)))).resolves.toBeDefined();
  });

  it('without settings to read, only the operator default applies', async () => {
    await prefer('alice', { model: 'nano-banana-pro' });
    const admitted = await admit(admissions({ settings: undefined }), request('a red fox'));
    expect(admitted.validated.model).toBe('nano-banana');
    expect(admitted.appliedDefaults).toEqual([]);
  });
});

describe('the applied defaults in the PostgreSQL store', () => {
  it('are kept with the job’s options, as in SQLite', async () => {
    const database = await freshDatabase();
    const postgres = await openPostgresStore({ url: database.url });
    try {
      const book = new SettingsBook({ store: postgres, clock, catalog });
      await book.savePreferences('discord', 'alice', { aspectRatio: '9:16', suffix: 'grainy' });
      const gate = admissions({ store: postgres, settings: book });
      const job = newJob(request('a red fox'), await admit(gate, request('a red fox')), 1);
      await postgres.insert(job);
      const stored = await postgres.get(job.id);
      expect(stored?.prompt).toBe('a red fox, grainy');
      expect(stored?.options).toEqual({
        model: 'nano-banana',
        aspectRatio: '9:16',
        appliedDefaults: [
          { setting: 'aspectRatio', source: 'preferences' },
          { setting: 'suffix', source: 'preferences' },
        ],
      });
    } finally {
      await postgres.close();
      await database.drop();
    }
  });
});
