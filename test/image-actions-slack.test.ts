import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import type { FakeSlackMessage } from './fakes/slack/index.js';
import { eventually } from './helpers/eventually.js';
import { type SlackHarness, startSlackHarness } from './helpers/slack-harness.js';

/**
 * The per-image buttons of a Slack result (Upscale 2K/4K, Vary, Edit), end to end through the
 * real Bolt against the fake Slack and the mock image API.
 */

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const FRANCOIS = 'U0FRANCOIS';
const GENERAL = 'C0GENERAL1';
const USERS = [
  { id: ALICE, name: 'alice', locale: 'en-US' },
  { id: BOB, name: 'bob', locale: 'en-GB' },
  { id: FRANCOIS, name: 'francois', locale: 'fr-FR' },
];

let harness: SlackHarness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(env: Record<string, string> = {}): Promise<SlackHarness> {
  harness = await startSlackHarness({
    mode: 'http',
    fake: { users: USERS, channels: [{ id: GENERAL, name: 'general' }] },
    env,
  });
  return harness;
}

interface CreateBody {
  action: string;
  prompt: string;
  model?: string;
  resolution?: string;
  image_urls?: string[];
}

function createsWith(bot: SlackHarness, text: string): CreateBody[] {
  return bot.api
    .creates()
    .filter((call) => String((call.body as { prompt?: string }).prompt).includes(text))
    .map((call) => call.body as CreateBody);
}

interface Destination {
  channel: string;
  threadTs: string;
}

/** The bot's message with a job's buttons, in the job's thread. */
function buttonsOf(bot: SlackHarness, job: Job): FakeSlackMessage {
  const { channel, threadTs } = job.destination as Destination;
  const found = bot.fake
    .thread(channel, threadTs)
    .find((message) => JSON.stringify(message.blocks ?? []).includes(`"value":"${job.id}"`));
  if (found === undefined) throw new Error(`no buttons for job ${job.id}`);
  return found;
}

interface ShownButton {
  action_id: string;
  value: string;
  text: { text: string };
}

/** The labels of each row of buttons. */
function rows(message: FakeSlackMessage): string[][] {
  return ((message.blocks ?? []) as { type: string; elements?: ShownButton[] }[])
    .filter((block) => block.type === 'actions')
    .map((block) => (block.elements ?? []).map((element) => element.text.text));
}

function buttonNamed(message: FakeSlackMessage, label: string): ShownButton {
  const found = ((message.blocks ?? []) as { elements?: ShownButton[] }[])
    .flatMap((block) => block.elements ?? [])
    .find((element) => element.text?.text === label);
  if (found === undefined) throw new Error(`no button "${label}"`);
  return found;
}

/** Presses a button as Slack sends it: its action id and its value. */
function press(bot: SlackHarness, message: FakeSlackMessage, label: string, userId: string) {
  const shown = buttonNamed(message, label);
  return bot.fake.deliverInteraction(
    bot.fake.blockActionsPayload({
      userId,
      channel: GENERAL,
      message,
      actionId: shown.action_id,
      value: shown.value,
    }),
  );
}

async function generate(bot: SlackHarness, prompt: string, flags = ''): Promise<Job> {
  await bot.fake.deliverSlashCommand({
    command: '/imagine',
    text: `${prompt} ${flags}`,
    userId: ALICE,
    channelId: GENERAL,
  });
  return bot.waitForJob((job) => job.prompt === prompt);
}

describe('Slack per-image actions', () => {
  it('offers Upscale, Vary and Edit per image, working after a restart, on the upscale model when the job’s lacks 4K', async () => {
    const bot = await start();
    const parent = await generate(bot, 'two foxes', '--count 2');
    const [firstImage, secondImage] = (parent.result?.images ?? []).map((image) => image.url);
    const message = buttonsOf(bot, parent);
    expect(rows(message)).toEqual([
      ['🔁 Reroll', '🗑️ Delete'],
      [
        '⬆️ Upscale 2K #1 · nano-banana-2',
        '⬆️ Upscale 4K #1 · nano-banana-2',
        '🔀 Vary #1',
        '✏️ Edit #1',
      ],
      [
        '⬆️ Upscale 2K #2 · nano-banana-2',
        '⬆️ Upscale 4K #2 · nano-banana-2',
        '🔀 Vary #2',
        '✏️ Edit #2',
      ],
    ]);
    expect(message.text + JSON.stringify(message.blocks)).toContain(
      'Upscale runs on nano-banana-2; a 4K image over',
    );

    // A restart between the result and the presses: the button's value and the store suffice.
    await bot.restart();

    await press(bot, message, '⬆️ Upscale 4K #2 · nano-banana-2', BOB);
    const upscaled = await bot.waitForJob(
      (job) => job.dedupKey?.startsWith('slack:action') === true && job.options.resolution === '4K',
    );
    expect(upscaled).toMatchObject({
      state: 'done',
      requesterId: BOB,
      parentJobId: parent.id,
      action: 'edit',
      options: { model: 'nano-banana-2', resolution: '4K' },
    });
    const [upscaleBody] = createsWith(bot, 'higher resolution');
    expect(upscaleBody?.image_urls).toEqual([secondImage]);
    expect(upscaleBody?.prompt).toContain('two foxes');
    // Into the parent's thread, saying where it came from.
    expect((upscaled.destination as Destination).threadTs).toBe(
      (parent.destination as Destination).threadTs,
    );
    const upscaledMessage = buttonsOf(bot, upscaled);
    expect(JSON.stringify(upscaledMessage.blocks)).toContain(
      `↳ from “two foxes” (\`${parent.id.slice(0, 8)}\`)`,
    );
    // A single image keeps today's row; past 4K only Vary is left.
    expect(rows(upscaledMessage)).toEqual([['🔁 Reroll', '✏️ Edit', '🗑️ Delete'], ['🔀 Vary #1']]);

    await press(bot, message, '🔀 Vary #1', ALICE);
    const varied = await bot.waitForJob((job) => job.prompt.startsWith('Make a variation'));
    expect(varied).toMatchObject({ parentJobId: parent.id, options: { model: 'nano-banana' } });
    expect(createsWith(bot, 'a variation')[0]?.image_urls).toEqual([firstImage]);

    const viewsBefore = bot.fake.views().length;
    await press(bot, message, '✏️ Edit #2', ALICE);
    const view = await bot.fake.waitFor(() => {
      const opened = bot.fake.views()[viewsBefore];
      return opened?.callback_id === 'nb_edit_result' ? opened : undefined;
    });
    // The button named the image: the form does not ask which.
    expect(JSON.stringify(view.blocks)).not.toContain('static_select');
    await bot.fake.deliverInteraction(
      bot.fake.viewSubmissionPayload({
        userId: ALICE,
        view,
        values: { nb_prompt: { prompt: { type: 'plain_text_input', value: 'give them hats' } } },
      }),
    );
    const edited = await bot.waitForJob((job) => job.prompt === 'give them hats');
    expect(edited).toMatchObject({ state: 'done', parentJobId: parent.id });
    expect(createsWith(bot, 'give them hats')[0]?.image_urls).toEqual([secondImage]);
  });

  it('puts each action on the presser’s quota, refusing it privately with nothing sent', async () => {
    const bot = await start({ NANO_BANANA_DAILY_IMAGES_PER_USER: '2' });
    const parent = await generate(bot, 'three bears', '--count 2');
    const message = buttonsOf(bot, parent);
    await press(bot, message, '🔀 Vary #1', ALICE);
    const refusal = await bot.fake.waitFor(() =>
      bot.fake.responses.find((response) =>
        /limit/i.test((response.body as { text?: string }).text ?? ''),
      ),
    );
    expect((refusal.body as { response_type?: string }).response_type ?? 'ephemeral').toBe(
      'ephemeral',
    );
    // Bob's press counts on his own quota.
    await press(bot, message, '🔀 Vary #2', BOB);
    const varied = await bot.waitForJob((job) => job.requesterId === BOB);
    expect(varied.parentJobId).toBe(parent.id);
    expect(createsWith(bot, 'It shows: three bears')).toHaveLength(1);
  });

  it('refuses an action on a deleted result, in the presser’s language', async () => {
    const bot = await start();
    const parent = await generate(bot, 'five birds', '--count 2');
    const message = buttonsOf(bot, parent);
    await bot.fake.deliverInteraction(
      bot.fake.blockActionsPayload({
        userId: ALICE,
        channel: GENERAL,
        message,
        actionId: 'nb_delete',
        value: parent.id,
      }),
    );
    await eventually(
      async () => (await bot.service.engine.getJob(parent.id))?.result === undefined,
      { description: 'the result forgotten' },
    );
    await press(bot, message, '⬆️ Upscale 2K #1 · nano-banana-2', FRANCOIS);
    await bot.fake.waitFor(() =>
      bot.fake.responses.find((response) =>
        ((response.body as { text?: string }).text ?? '').includes('n’est plus conservée'),
      ),
    );
    expect(createsWith(bot, 'It shows: five birds')).toEqual([]);
  });
});
