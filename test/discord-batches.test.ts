import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeMessage } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';

/**
 * Issue 13, batches and history on Discord, end to end through the real discord.js against the
 * fake Discord: `{a, b}` groups and `--repeat` make one job per prompt, each in its own message;
 * a batch the quota cannot cover is refused whole, before anything is stored or sent; `/history`
 * lists a member's last jobs with links; `/usage` counts this week's images.
 */

/** An operator admin (`NANO_BANANA_ADMIN_IDS`), a member of the fake's guild. */
const ADMIN = '880000000000000001';

let api: MockApi;
let fake: FakeDiscord;
let bot: DiscordBot | undefined;
let finished: Job[] = [];

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 100 });
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  api.setDelay(0);
  for (const task of api.tasks.values()) api.finishTask(task.id);
  await bot?.stop();
  bot = undefined;
  await fake?.close();
  api.setDelay(100);
});

async function start(env: Record<string, string> = {}) {
  fake = await FakeDiscord.start({
    guilds: [
      {
        members: [
          { id: '880000000000000002', username: 'member' },
          { id: ADMIN, username: 'admin' },
        ],
      },
    ],
  });
  bot = await startDiscordBot(fake, api, { env: { NANO_BANANA_SHUTDOWN_GRACE: '1s', ...env } });
  finished = [];
  bot.service.engine.on('finished', (job) => finished.push(job));
  await fake.ready();
}

/** The prompts sent to the API that hold `word`, sorted. */
const promptsWith = (word: string) =>
  api
    .creates()
    .map((call) => String((call.body as { prompt?: string }).prompt))
    .filter((prompt) => prompt.includes(word))
    .sort();

/** Waits until `count` jobs whose prompt holds `word` have finished. */
const jobsDone = (word: string, count: number) =>
  fake.waitFor(
    () => {
      const done = finished.filter((job) => job.prompt.includes(word));
      return done.length >= count ? done : undefined;
    },
    { timeoutMs: 30_000, description: `${count} jobs "${word}" to finish` },
  );

/** The private answer an interaction got at once (a refusal, a history, a usage). */
async function privateAnswer(interactionId: string): Promise<string> {
  const callback = await fake.waitFor(() => fake.interactionResponses(interactionId).callbacks[0], {
    description: 'a private answer',
  });
  expect(callback.type).toBe(4);
  const data = callback.data as { content: string; flags: number };
  expect(data.flags & 64).toBe(64);
  return data.content;
}

const imagine = (prompt: string, options: Record<string, string | number | boolean> = {}) =>
  fake.sendSlashCommand({ name: 'imagine', options: { prompt, ...options } });

describe('Discord batches', () => {
  it('{red, blue} bird --repeat 2 makes four jobs, each with its own message and result', async () => {
    await start();
    const sent = imagine('{red, blue} bird --repeat 2');
    const jobs = await jobsDone('bird', 4);
    expect(promptsWith('bird')).toEqual(['blue bird', 'blue bird', 'red bird', 'red bird']);
    // One dedup key per job of the interaction.
    expect(jobs.map((job) => job.dedupKey).sort()).toEqual(
      [0, 1, 2, 3].map((index) => `discord:interaction:${sent.id}:${index}`),
    );
    const followUps = await fake.waitFor(
      () => {
        const messages = fake.interactionResponses(sent.id).followups;
        return messages.length === 4 && messages.every((message) => message.attachments.length > 0)
          ? messages
          : undefined;
      },
      { timeoutMs: 20_000, description: 'four results, one per follow-up' },
    );
    expect(
      followUps.map((message) => (message.content.includes('red bird') ? 'red' : 'blue')),
    ).toEqual(['red', 'red', 'blue', 'blue']);
    expect(fake.interactionResponses(sent.id).original?.content).toBe(
      '4 jobs queued. Each gets its own message below.',
    );
  });

  it('takes the repeat option of /imagine, and says the acknowledgement in French', async () => {
    await start();
    const sent = fake.sendSlashCommand({
      name: 'imagine',
      locale: 'fr',
      options: { prompt: 'un chat répété', repeat: 2 },
    });
    await jobsDone('chat répété', 2);
    expect(promptsWith('chat répété')).toEqual(['un chat répété', 'un chat répété']);
    expect(fake.interactionResponses(sent.id).original?.content).toMatch(
      /^2 tâches en file d’attente/,
    );
  });

  it('refuses a batch of more than 8 jobs, saying how many it would make, and sends nothing', async () => {
    await start();
    const sent = imagine('{a, b, c} {d, e, f} toomany');
    expect(await privateAnswer(sent.id)).toMatch(/would make 9 jobs; one command makes at most 8/);
    const repeated = imagine('{a, b, c} toomany --repeat 3');
    expect(await privateAnswer(repeated.id)).toMatch(/would make 9 jobs/);
    expect(promptsWith('toomany')).toEqual([]);
  });

  it('refuses every job when the quota cannot cover them all: nothing stored, nothing sent', async () => {
    await start({ NANO_BANANA_DAILY_IMAGES_PER_USER: '3' });
    const sent = imagine('{a, b} {c, d} quotabird');
    expect(await privateAnswer(sent.id)).toMatch(/daily limit of 3 images/);
    expect(promptsWith('quotabird')).toEqual([]);
    expect(await bot?.service.engine.recentJobs(fake.userId, 'discord', 10)).toEqual([]);
    expect(fake.interactionResponses(sent.id).followups).toEqual([]);
    // Three fit.
    imagine('{a, b, c} quotabird');
    await jobsDone('quotabird', 3);
    expect(promptsWith('quotabird')).toEqual(['a quotabird', 'b quotabird', 'c quotabird']);
  });

  it('refuses every job when the server’s own daily limit cannot cover them all', async () => {
    await start();
    await bot?.service.engine.settings.saveServer('discord', fake.guildId, { dailyImages: 3 });
    const sent = imagine('{a, b} {c, d} serverbird');
    expect(await privateAnswer(sent.id)).toMatch(/This server has reached its daily limit of 3/);
    expect(promptsWith('serverbird')).toEqual([]);
    expect(await bot?.service.engine.recentJobs(fake.userId, 'discord', 10)).toEqual([]);
  });

  it('refuses a batch that would pass the unfinished-job cap', async () => {
    await start({ NANO_BANANA_MAX_QUEUED_PER_USER: '3' });
    const sent = imagine('{a, b} {c, d} capbird');
    expect(await privateAnswer(sent.id)).toMatch(/already have 3 requests waiting/);
    expect(promptsWith('capbird')).toEqual([]);
  });

  it('lets an operator admin past the quota, but not past 8 jobs', async () => {
    await start({ NANO_BANANA_ADMIN_IDS: ADMIN, NANO_BANANA_DAILY_IMAGES_PER_USER: '1' });
    fake.sendSlashCommand({
      name: 'imagine',
      userId: ADMIN,
      options: { prompt: '{a, b, c} adminbird --repeat 2' },
    });
    await jobsDone('adminbird', 6);
    expect(promptsWith('adminbird')).toHaveLength(6);
    const tooMany = fake.sendSlashCommand({
      name: 'imagine',
      userId: ADMIN,
      options: { prompt: '{a, b, c} {d, e, f} adminbird' },
    });
    expect(await privateAnswer(tooMany.id)).toMatch(/would make 9 jobs/);
    expect(promptsWith('adminbird')).toHaveLength(6);
  });

  it('expands a mention’s prompt too: one reply says how many, each job replies with its images', async () => {
    await start();
    const asked = fake.postUserMessage({ content: `<@${fake.botUserId}> {red, blue} fox` });
    await jobsDone('fox', 2);
    expect(promptsWith('fox')).toEqual(['blue fox', 'red fox']);
    const replies = () =>
      fake
        .messages(fake.channelId)
        .filter(
          (message) =>
            message.author.id === fake.botUserId &&
            message.message_reference?.message_id === asked.id,
        );
    await fake.waitFor(
      () => replies().filter((message) => message.attachments.length > 0).length === 2 || undefined,
      { timeoutMs: 20_000, description: 'two results' },
    );
    expect(replies().map((message) => message.content)).toContain(
      '2 jobs queued. Each gets its own message below.',
    );
  });

  it('keeps a private batch private: the reply and every job’s message are ephemeral', async () => {
    await start();
    const sent = imagine('{red, blue} secret', { private: true });
    await jobsDone('secret', 2);
    const followUps = await fake.waitFor(
      () => {
        const messages = fake.interactionResponses(sent.id).followups;
        return messages.length === 2 && messages.every((message) => message.attachments.length > 0)
          ? messages
          : undefined;
      },
      { timeoutMs: 20_000, description: 'two private results' },
    );
    for (const message of followUps) expect((message.flags ?? 0) & 64).toBe(64);
    expect((fake.interactionResponses(sent.id).original?.flags ?? 0) & 64).toBe(64);
    // Nothing of it in the channel but those ephemeral messages.
    expect(
      fake
        .messages(fake.channelId)
        .filter(
          (message) => message.content.includes('secret') && ((message.flags ?? 0) & 64) === 0,
        )
        .map((message) => [message.id, message.flags, message.content]),
    ).toEqual([]);
  });

  it('delivers each job of a batch into its own message across a restart', async () => {
    await start();
    api.hold((task) => String(task.request.prompt).includes('restartbird'));
    const sent = imagine('{red, blue} restartbird');
    await fake.waitFor(() => promptsWith('restartbird').length === 2 || undefined, {
      timeoutMs: 20_000,
      description: 'both creates',
    });
    const dataDir = bot?.dataDir ?? '';
    await bot?.stop();
    bot = await startDiscordBot(fake, api, {
      dataDir,
      env: { NANO_BANANA_SHUTDOWN_GRACE: '1s' },
    });
    api.release();
    const followUps = await fake.waitFor(
      () => {
        const messages = fake.interactionResponses(sent.id).followups;
        return messages.length === 2 && messages.every((message) => message.attachments.length > 0)
          ? messages
          : undefined;
      },
      { timeoutMs: 30_000, description: 'both results after the restart' },
    );
    expect(
      followUps.map((message) => /\*\*(red|blue) restartbird\*\*/.exec(message.content)?.[1]),
    ).toEqual(['red', 'blue']);
    expect(promptsWith('restartbird')).toEqual(['blue restartbird', 'red restartbird']);
  });

  it('gives every job of a batch the member’s preferences (their suffix)', async () => {
    await start();
    await bot?.service.engine.settings.savePreferences('discord', fake.userId, {
      suffix: 'in watercolour',
    });
    imagine('{red, blue} heron');
    await jobsDone('heron', 2);
    expect(promptsWith('heron')).toEqual([
      'blue heron, in watercolour',
      'red heron, in watercolour',
    ]);
  });

  it('reads an escaped brace as a plain one', async () => {
    await start();
    imagine('a sign that reads \\{open\\}');
    await jobsDone('sign', 1);
    expect(promptsWith('sign')).toEqual(['a sign that reads {open}']);
  });
});

describe('Discord /history and /usage', () => {
  it('lists the member’s last jobs privately, with when, state, prompt and a link to the result', async () => {
    await start({ NANO_BANANA_RETENTION_DAYS: '3' });
    const sent = imagine('{one, two} historycat');
    await jobsDone('historycat', 2);
    const followUps = await fake.waitFor(
      () => {
        const messages = fake.interactionResponses(sent.id).followups;
        return messages.length === 2 && messages.every((message) => message.attachments.length > 0)
          ? messages
          : undefined;
      },
      { timeoutMs: 20_000 },
    );
    imagine('a private historycat', { private: true });
    await jobsDone('private historycat', 1);

    const history = await privateAnswer(fake.sendSlashCommand({ name: 'history' }).id);
    const lines = history.split('\n');
    expect(lines[0]).toBe('**Your last requests here:**');
    // Newest first: the private one, without a link (nobody else can open it).
    expect(lines[1]).toMatch(/^• <t:\d+:R> · done · “a private historycat”$/);
    for (const followUp of followUps) {
      const line = lines.find((each) => each.includes(followUp.id));
      expect(line).toBe(
        `• <t:${Math.floor(jobOf(followUp).createdAt / 1000)}:R> · done · “${jobOf(followUp).prompt}” · [result](https://discord.com/channels/${fake.guildId}/${fake.channelId}/${followUp.id})`,
      );
    }
    expect(lines.at(-1)).toBe('-# Requests are forgotten after 3 days.');
  });

  it('says so when there is nothing yet, without a retention note at the default 30 days', async () => {
    await start();
    expect(await privateAnswer(fake.sendSlashCommand({ name: 'history' }).id)).toBe(
      'You have no requests here yet.',
    );
    expect(await privateAnswer(fake.sendSlashCommand({ name: 'history', locale: 'fr' }).id)).toBe(
      'Vous n’avez encore fait aucune demande ici.',
    );
  });

  it('/usage adds the images made this ISO week', async () => {
    await start({ NANO_BANANA_DAILY_IMAGES_PER_USER: '10' });
    imagine('{one, two} weekcat --count 2');
    await jobsDone('weekcat', 2);
    const usage = await privateAnswer(fake.sendSlashCommand({ name: 'usage' }).id);
    expect(usage.split('\n').slice(0, 2)).toEqual([
      'You have 6 images left.',
      'This week (since Monday, UTC): 4 images.',
    ]);
    const french = await privateAnswer(fake.sendSlashCommand({ name: 'usage', locale: 'fr' }).id);
    expect(french).toContain('Cette semaine (depuis lundi, UTC)\u202F: 4 images.');
  });

  it('registers /history and the repeat option with their French descriptions', async () => {
    await start({ DISCORD_GUILD_IDS: '' });
    const commands = await fake.waitFor(() => {
      const all = [...fake.commands(), ...fake.commands(fake.guildId)];
      return all.some((command) => command.name === 'history') ? all : undefined;
    });
    const history = commands.find((command) => command.name === 'history');
    expect(history?.description_localizations).toEqual({
      fr: 'Vos 10 dernières demandes, avec les liens vers les résultats',
    });
    const imagineCommand = commands.find((command) => command.name === 'imagine');
    const repeat = (imagineCommand?.options as { name: string }[] | undefined)?.find(
      (option) => option.name === 'repeat',
    );
    expect(repeat).toMatchObject({
      min_value: 1,
      max_value: 4,
      description_localizations: { fr: 'Lancer la demande autant de fois (1 à 4)' },
    });
  });
});

/** The finished job whose result is this follow-up. */
function jobOf(message: FakeMessage): Job {
  const job = finished.find((each) => message.content.includes(each.prompt));
  if (job === undefined) throw new Error(`no job for ${message.id}`);
  return job;
}
