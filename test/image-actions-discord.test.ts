import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeMessage } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';
import { eventually } from './helpers/eventually.js';

/**
 * The per-image buttons of a Discord result (Upscale 2K/4K, Vary, Edit), end to end through the
 * real discord.js against the fake Discord and the mock image API.
 */

let api: MockApi;
let fake: FakeDiscord;
let bot: DiscordBot | undefined;

beforeAll(async () => {
  api = await startMockApi({ token: API_TOKEN, delayMs: 100 });
});
afterAll(async () => {
  await api.close();
});
afterEach(async () => {
  await bot?.stop();
  bot = undefined;
  await fake?.close();
});

async function start(env: Record<string, string> = {}) {
  fake = await FakeDiscord.start();
  bot = await startDiscordBot(fake, api, { env });
  await fake.ready();
}

interface CreateBody {
  action: string;
  prompt: string;
  model?: string;
  resolution?: string;
  image_urls?: string[];
}

const createsWith = (text: string) =>
  api
    .creates()
    .filter((call) => String((call.body as { prompt?: string }).prompt).includes(text))
    .map((call) => call.body as CreateBody);

/** The interaction's reply once it holds images. */
function resultOf(interactionId: string): Promise<FakeMessage> {
  return fake.waitFor(
    () => {
      const original = fake.interactionResponses(interactionId).original;
      return original !== undefined && original.attachments.length > 0 ? original : undefined;
    },
    { timeoutMs: 20_000, description: 'the result' },
  );
}

/** What a private answer to an interaction said (its first callback or follow-up). */
function privateAnswer(interactionId: string): Promise<string> {
  return fake.waitFor(
    () => {
      const responses = fake.interactionResponses(interactionId);
      const data = responses.callbacks[0]?.data as { content?: string } | undefined;
      return data?.content ?? responses.followups[0]?.content;
    },
    { timeoutMs: 10_000, description: 'a private answer' },
  );
}

function buttons(message: FakeMessage): { id: string; label: string }[][] {
  return message.components.map((row) =>
    ((row.components ?? []) as { custom_id?: string; label?: string }[]).map((component) => ({
      id: component.custom_id ?? '',
      label: component.label ?? '',
    })),
  );
}

function find(message: FakeMessage, label: string): string {
  const id = buttons(message)
    .flat()
    .find((button) => button.label === label)?.id;
  if (id === undefined)
    throw new Error(`no button "${label}" in ${JSON.stringify(buttons(message))}`);
  return id;
}

/** The result image URLs the mock API gave for a prompt. */
function resultUrls(prompt: string): string[] {
  const task = [...api.tasks.values()].find((candidate) => candidate.request.prompt === prompt);
  const response = task?.response;
  return response?.success === true ? response.data.map((image) => image.image_url) : [];
}

/** Jobs the running bot finished, as the engine reports them. */
function trackFinished(): Job[] {
  const finished: Job[] = [];
  bot?.service.engine.on('finished', (job: Job) => finished.push(job));
  return finished;
}

/**
 * Waits until a result's job is done (its delivery recorded): the buttons show a moment before,
 * and what Delete and the old Edit read is recorded then.
 */
async function settled(result: FakeMessage): Promise<void> {
  const jobId = find(result, 'Reroll').split(':')[2] ?? '';
  await eventually(async () => (await bot?.service.engine.getJob(jobId))?.state === 'done', {
    description: 'the job done',
  });
}

async function imagine(prompt: string, count: number, options: Record<string, string> = {}) {
  const interaction = fake.sendSlashCommand({
    name: 'imagine',
    options: { prompt, count, ...options },
  });
  return { interaction, result: await resultOf(interaction.id) };
}

describe('Discord per-image actions', () => {
  it('offers Upscale, Vary and Edit per image, and they work after a restart, on the upscale model when the job’s lacks 4K', async () => {
    await start();
    const { result } = await imagine('two foxes', 2);
    // One row of the result's own buttons, then one row per image.
    expect(buttons(result).map((row) => row.map((button) => button.label))).toEqual([
      ['Reroll', 'Delete'],
      ['Upscale 2K #1 · nano-banana-2', 'Upscale 4K #1 · nano-banana-2', 'Vary #1', 'Edit #1'],
      ['Upscale 2K #2 · nano-banana-2', 'Upscale 4K #2 · nano-banana-2', 'Vary #2', 'Edit #2'],
    ]);
    // The default model (nano-banana) makes 1K only: the buttons say where upscales run.
    expect(result.content).toContain(
      'Upscale runs on nano-banana-2; a 4K image over 10 MB arrives as JPEG.',
    );
    const [firstImage, secondImage] = resultUrls('two foxes');
    expect(secondImage).toBeDefined();

    // The bot restarts between the result and the presses: the ids and the store are enough.
    const dataDir = bot?.dataDir ?? '';
    await bot?.stop();
    bot = await startDiscordBot(fake, api, { dataDir });
    await fake.ready();
    const finished = trackFinished();

    const upscale = fake.sendButton({
      customId: find(result, 'Upscale 4K #2 · nano-banana-2'),
      messageId: result.id,
    });
    const upscaled = await resultOf(upscale.id);
    const [upscaleBody] = createsWith('higher resolution');
    expect(createsWith('higher resolution')).toHaveLength(1);
    expect(upscaleBody?.action).toBe('edit');
    expect(upscaleBody?.model).toBe('nano-banana-2');
    expect(upscaleBody?.resolution).toBe('4K');
    expect(upscaleBody?.prompt).toContain('two foxes');
    expect(upscaleBody?.image_urls).toEqual([secondImage]);
    const upscaleJob = await fake.waitFor(
      () => finished.find((job) => job.dedupKey === `discord:interaction:${upscale.id}`),
      { description: 'the upscale job finished' },
    );
    const parentJobId = find(result, 'Reroll').split(':')[2];
    expect(upscaleJob?.parentJobId).toBe(parentJobId);
    expect(upscaleJob?.state).toBe('done');
    // The new result links to the one it came from.
    expect(upscaled.content).toContain(
      `↳ from https://discord.com/channels/${fake.guildId}/${result.channel_id}/${result.id}`,
    );
    // A single image keeps today's row, plus its upscales and Vary (none past 4K).
    expect(buttons(upscaled).map((row) => row.map((button) => button.label))).toEqual([
      ['Reroll', 'Edit', 'Delete'],
      ['Vary #1'],
    ]);

    const vary = fake.sendButton({ customId: find(result, 'Vary #1'), messageId: result.id });
    await resultOf(vary.id);
    const [varyBody] = createsWith('a variation');
    expect(varyBody?.model).toBe('nano-banana');
    expect(varyBody?.image_urls).toEqual([firstImage]);

    const edit = fake.sendButton({ customId: find(result, 'Edit #2'), messageId: result.id });
    const modal = await fake.waitFor(() => fake.interactionResponses(edit.id).modal);
    // One image, named by the button: the form does not ask which.
    expect(JSON.stringify(modal)).not.toContain('"image"');
    const submit = fake.sendModalSubmit({
      customId: String(modal.custom_id),
      fields: { change: 'give them hats' },
    });
    await resultOf(submit.id);
    const [editBody] = createsWith('give them hats');
    expect(editBody?.prompt).toBe('give them hats');
    expect(editBody?.image_urls).toEqual([secondImage]);
  });

  it('upscales on the job’s own model when it makes the resolution, else on NANO_BANANA_UPSCALE_MODEL', async () => {
    await start({ NANO_BANANA_UPSCALE_MODEL: 'pro' });
    const { result: small } = await imagine('one owl', 1);
    // A single image keeps today's row, with its upscales and Vary under it.
    expect(buttons(small).map((row) => row.map((button) => button.label))).toEqual([
      ['Reroll', 'Edit', 'Delete'],
      ['Upscale 2K #1 · nano-banana-pro', 'Upscale 4K #1 · nano-banana-pro', 'Vary #1'],
    ]);
    expect(small.content).toContain('Upscale runs on nano-banana-pro;');
    const first = fake.sendButton({
      customId: find(small, 'Upscale 2K #1 · nano-banana-pro'),
      messageId: small.id,
    });
    const upscaled = await resultOf(first.id);
    // People read the prompt it works from, marked ⬆️; the instruction is for the model only.
    expect(upscaled.content).toContain('⬆️ one owl');
    expect(upscaled.content).not.toContain('Reproduce this image');
    expect(createsWith('It shows: one owl').map((body) => [body.model, body.resolution])).toEqual([
      ['nano-banana-pro', '2K'],
    ]);

    const { result: large } = await imagine('two owls', 1, {
      model: 'nano-banana-2',
      resolution: '2K',
    });
    // Already 2K: only 4K is offered, on its own model.
    expect(buttons(large)[1]?.map((button) => button.label)).toEqual([
      'Upscale 4K #1 · nano-banana-2',
      'Vary #1',
    ]);
    const second = fake.sendButton({
      customId: find(large, 'Upscale 4K #1 · nano-banana-2'),
      messageId: large.id,
    });
    await resultOf(second.id);
    expect(createsWith('It shows: two owls').map((body) => [body.model, body.resolution])).toEqual([
      ['nano-banana-2', '4K'],
    ]);
  });

  it('puts each action on the presser’s quota, refusing it privately with nothing sent', async () => {
    await start({ NANO_BANANA_DAILY_IMAGES_PER_USER: '2' });
    const { result } = await imagine('three bears', 2);
    // The requester has used their two images: their Vary is refused, at once and privately.
    const refused = fake.sendButton({ customId: find(result, 'Vary #1'), messageId: result.id });
    expect(await privateAnswer(refused.id)).toMatch(/daily limit|limit/i);
    expect(fake.interactionResponses(refused.id).callbacks[0]?.type).toBe(4);
    // Another member's press counts on their own quota, and goes through.
    const other = fake.sendButton({
      customId: find(result, 'Vary #2'),
      messageId: result.id,
      userId: 'another-member',
    });
    const varied = await resultOf(other.id);
    expect(varied.content).toContain('<@another-member>');
    expect(createsWith('It shows: three bears')).toHaveLength(1);
  });

  it('keeps the buttons of results posted by earlier versions working (nb: ids)', async () => {
    await start();
    const { result } = await imagine('four cats', 2);
    await settled(result);
    const jobId = find(result, 'Reroll').split(':')[2] ?? '';
    // The message as an earlier version posted it: one row, Edit asking for an image number.
    const shown: FakeMessage = {
      ...result,
      components: [
        {
          type: 1,
          components: ['reroll', 'edit', 'delete'].map((action) => ({
            type: 2,
            style: 2,
            label: action,
            custom_id: `nb:${action}:${jobId}`,
          })),
        },
      ],
    };
    const edit = fake.sendButton({ customId: `nb:edit:${jobId}`, messageId: result.id, shown });
    const modal = await fake.waitFor(() => fake.interactionResponses(edit.id).modal);
    const submit = fake.sendModalSubmit({
      customId: String(modal.custom_id),
      fields: { change: 'make them sleep', image: '2' },
    });
    await fake.waitFor(() => createsWith('make them sleep')[0], {
      description: JSON.stringify(fake.interactionResponses(submit.id)),
    });
    await resultOf(submit.id);
    const [editBody] = createsWith('make them sleep');
    expect(editBody?.action).toBe('edit');
    expect(editBody?.image_urls).toHaveLength(1);

    const reroll = fake.sendButton({ customId: `nb:reroll:${jobId}`, messageId: result.id, shown });
    await resultOf(reroll.id);
    expect(createsWith('four cats')).toHaveLength(2);
  });

  it('refuses an action on a deleted result in the presser’s language', async () => {
    await start();
    const { result } = await imagine('five birds', 2);
    await settled(result);
    const owner = fake.sendButton({ customId: find(result, 'Delete'), messageId: result.id });
    // "Deleted." comes once the result is forgotten, after its messages are gone.
    await fake.waitFor(
      () =>
        fake.interactionResponses(owner.id).original?.content === 'Deleted.' ? true : undefined,
      { description: 'the deletion done' },
    );
    expect(fake.messages(fake.channelId).some((message) => message.id === result.id)).toBe(false);
    expect(fake.interactionResponses(owner.id).callbacks[0]?.type).toBe(5);
    // A member whose screen still showed the buttons presses one.
    const late = fake.sendButton({
      customId: find(result, 'Upscale 2K #1 · nano-banana-2'),
      messageId: result.id,
      shown: result,
      locale: 'fr',
    });
    expect(await privateAnswer(late.id)).toContain('n’est plus conservée');
    expect(createsWith('It shows: five birds')).toEqual([]);
  });
});
