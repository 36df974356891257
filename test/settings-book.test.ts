import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JobStore } from '../src/core/jobs/store.js';
import { openSqliteStore } from '../src/core/jobs/stores/sqlite.js';
import { createModelCatalog } from '../src/core/models.js';
import { SettingsBook } from '../src/core/preferences/settings-book.js';

describe('SettingsBook', () => {
  let store: JobStore;
  let book: SettingsBook;
  let now = 1_000;

  beforeEach(async () => {
    store = await openSqliteStore({ path: ':memory:' });
    book = new SettingsBook({
      store,
      clock: { now: () => now, sleep: async () => undefined },
      catalog: createModelCatalog(),
    });
  });

  afterEach(async () => {
    await store.close();
  });

  it('stores a server’s settings, resolving model aliases, and reads them back', async () => {
    expect(await book.server('discord', 'g1')).toEqual({});
    const saved = await book.saveServer('discord', 'g1', {
      model: 'PRO',
      aspectRatio: '16:9',
      resolution: '2K',
      channels: ['c1', 'c2', 'c1'],
      dailyImages: 40,
      auditChannelId: 'c9',
      privateResults: true,
      threads: false,
    });
    expect(saved).toEqual({
      model: 'nano-banana-pro',
      aspectRatio: '16:9',
      resolution: '2K',
      channels: ['c1', 'c2'],
      dailyImages: 40,
      auditChannelId: 'c9',
      privateResults: true,
      threads: false,
    });
    expect(await book.server('discord', 'g1')).toEqual(saved);
    // Per platform: the same id elsewhere has nothing.
    expect(await book.server('slack', 'g1')).toEqual({});
  });

  it('refuses a bad field on write, naming it, and stores nothing', async () => {
    await book.saveServer('discord', 'g1', { dailyImages: 5 });
    await expect(book.saveServer('discord', 'g1', { model: 'dall-e' })).rejects.toMatchObject({
      code: 'invalid_input',
      params: { reason: 'unknown_model', value: 'dall-e' },
    });
    await expect(
      book.saveServer('discord', 'g1', { dailyImages: 0, threads: true }),
    ).rejects.toMatchObject({ params: { reason: 'bad_setting', setting: 'dailyImages' } });
    await expect(
      book.saveServer('discord', 'g1', { channels: ['not an id'] }),
    ).rejects.toMatchObject({ params: { reason: 'bad_setting', setting: 'channels' } });
    expect(await book.server('discord', 'g1')).toEqual({ dailyImages: 5 });
  });

  it('keeps what is still valid of a stored document and drops the rest', async () => {
    await store.putSettings(
      'server',
      'discord:g1',
      { model: 'a-model-since-removed', resolution: '2k', threads: 'yes', unknown: 1 },
      now,
    );
    expect(await book.server('discord', 'g1')).toEqual({ resolution: '2K' });
    await store.putSettings('user', 'discord:u1', 'not an object', now);
    expect(await book.preferences('discord', 'u1')).toEqual({});
  });

  it('checks a member’s suffix and styles', async () => {
    const saved = await book.savePreferences('slack', 'u1', {
      model: 'nano-banana-2',
      suffix: '  warm light  ',
      styles: { cinematic: 'wide shot, film grain', 'noir-2': 'black and white' },
    });
    expect(saved).toEqual({
      model: 'nano-banana-2',
      suffix: 'warm light',
      styles: { cinematic: 'wide shot, film grain', 'noir-2': 'black and white' },
    });
    expect(await book.preferences('slack', 'u1')).toEqual(saved);
    const styles = Object.fromEntries(Array.from({ length: 21 }, (_, index) => [`s${index}`, 'x']));
    await expect(book.savePreferences('slack', 'u1', { styles })).rejects.toMatchObject({
      params: { reason: 'too_many_styles', max: 20 },
    });
    await expect(
      book.savePreferences('slack', 'u1', { styles: { 'Has Space': 'x' } }),
    ).rejects.toMatchObject({ params: { reason: 'bad_style_name', value: 'Has Space' } });
    await expect(
      book.savePreferences('slack', 'u1', { suffix: 'x'.repeat(201) }),
    ).rejects.toMatchObject({
      params: { reason: 'setting_too_long', setting: 'suffix', max: 200 },
    });
    expect(await book.preferences('slack', 'u1')).toEqual(saved);
  });

  it('deletes the document when everything is unset', async () => {
    await book.savePreferences('discord', 'u1', { suffix: 'x' });
    now = 2_000;
    expect(await book.savePreferences('discord', 'u1', { suffix: '   ' })).toEqual({});
    expect(await store.getSettings('user', 'discord:u1')).toBeUndefined();
  });
});
