import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import { ACTION_IDS } from '../src/slack/blocks.js';
import type { FakeSlackMessage } from './fakes/slack/index.js';
import { type SlackHarness, startSlackHarness } from './helpers/slack-harness.js';

/**
 * `/imagine --prefer` end to end: the real Bolt app (Socket Mode) against the fake Slack, the
 * whole service over its SQLite store, the mock API receiving what the precedence resolved.
 */

const ALICE = 'U0ALICE001';
const BOB = 'U0BOB00001';
const FRANCOIS = 'U0FRANCOIS';
const GENERAL = 'C0GENERAL1';
const TEAM = 'T0FAKETEAM';

let harness: SlackHarness;

beforeAll(async () => {
  harness = await startSlackHarness({
    mode: 'socket',
    apiDelayMs: 50,
    env: { NANO_BANANA_BLOCKED_WORDS: 'gore' },
    fake: {
      teamId: TEAM,
      users: [
        { id: ALICE, name: 'alice', locale: 'en-US' },
        { id: BOB, name: 'bob', locale: 'en-US' },
        { id: FRANCOIS, name: 'francois', locale: 'fr-FR' },
      ],
      channels: [{ id: GENERAL, name: 'general' }],
    },
  });
});
afterAll(async () => {
  await harness?.close();
});

type Body = { prompt?: string; model?: string; aspect_ratio?: string; resolution?: string };
const createsWith = (text: string): Body[] =>
  harness.api
    .creates()
    .map((call) => call.body as Body)
    .filter((body) => String(body.prompt).includes(text));

/** `/imagine <text>` and its private answer (through the command's `response_url`). */
async function answerTo(text: string, userId = ALICE): Promise<string> {
  const { fake } = harness;
  const before = fake.responses.length;
  await fake.deliverSlashCommand({ command: '/imagine', text, userId, channelId: GENERAL });
  const response = await fake.waitFor(() => fake.responses[before]);
  expect(response.body).toMatchObject({ response_type: 'ephemeral' });
  return (response.body as { text?: string }).text ?? '';
}

/** `/imagine <prompt>`, and its job once finished. */
async function generate(text: string, prompt: string, userId = ALICE): Promise<Job> {
  await harness.fake.deliverSlashCommand({ command: '/imagine', text, userId, channelId: GENERAL });
  return harness.waitForJob((job) => job.prompt.startsWith(prompt));
}

/** The message with the result's buttons (its notes included). */
function resultMessage(job: Job): Promise<FakeSlackMessage> {
  const { channel, threadTs } = job.destination as { channel: string; threadTs: string };
  return harness.fake.waitFor(() =>
    harness.fake
      .thread(channel, threadTs)
      .find((candidate) => JSON.stringify(candidate.blocks ?? []).includes(`"value":"${job.id}"`)),
  );
}

async function resultText(job: Job): Promise<string> {
  return JSON.stringify((await resultMessage(job)).blocks);
}

describe('Slack /imagine --prefer', () => {
  it('shows how to use it, and lists it in --help', async () => {
    const shown = await answerTo('--prefer');
    expect(shown).toContain('*Your preferences*');
    expect(shown).toContain('Model: not set');
    const usage = await answerTo('--prefer something else');
    expect(usage).toContain('`/imagine --prefer style add noir');
    expect(await answerTo('--help')).toContain('`/imagine --prefer`: your own default model');
  });

  it('applies the preferred model, ratio and suffix, the workspace’s resolution, and says where each came from', async () => {
    const saved = await answerTo('--prefer --model pro --ar 16:9');
    expect(saved).toContain('✅ Saved.');
    expect(saved).toContain('Model: `nano-banana-pro`');
    expect(await answerTo('--prefer suffix in soft morning light')).toContain(
      'Suffix: `in soft morning light`',
    );
    // The workspace's default resolution (its moderators set it with --settings).
    await harness.service.engine.settings.saveServer('slack', TEAM, {
      resolution: '2K',
      aspectRatio: '1:1',
    });

    const job = await generate('a lighthouse', 'a lighthouse');
    expect(createsWith('a lighthouse')[0]).toMatchObject({
      model: 'nano-banana-pro',
      aspect_ratio: '16:9',
      resolution: '2K',
      prompt: 'a lighthouse, in soft morning light',
    });
    expect(await resultText(job)).toContain(
      'Defaults used: model from your preferences, ratio from your preferences, resolution from the workspace’s settings, suffix from your preferences.',
    );

    // What the request says beats the preference.
    await generate('a harbour --model 2 --ar 3:2', 'a harbour');
    expect(createsWith('a harbour')[0]).toMatchObject({
      model: 'nano-banana-2',
      aspect_ratio: '3:2',
      resolution: '2K',
    });

    // Someone else has no preferences: the workspace's settings, then the bot's default model.
    await generate('a quay', 'a quay', BOB);
    expect(createsWith('a quay')[0]).toMatchObject({
      model: 'nano-banana',
      aspect_ratio: '1:1',
      prompt: 'a quay',
    });
    expect(createsWith('a quay')[0]?.resolution).toBeUndefined();

    // A re-roll is the same request: the suffix is not added twice.
    await harness.fake.deliverInteraction(
      harness.fake.blockActionsPayload({
        userId: ALICE,
        channel: GENERAL,
        message: await resultMessage(job),
        actionId: ACTION_IDS.reroll,
        value: job.id,
      }),
    );
    const rerolled = await harness.waitForJob((candidate) => candidate.parentJobId === job.id);
    expect(rerolled.prompt).toBe('a lighthouse, in soft morning light');
    expect(createsWith('a lighthouse').map((body) => body.prompt)).toEqual([
      'a lighthouse, in soft morning light',
      'a lighthouse, in soft morning light',
    ]);
    await harness.service.engine.settings.saveServer('slack', TEAM, {});
  });

  it('expands --style, refuses an unknown style, a blocked word and the 21st style', async () => {
    expect(await answerTo('--prefer style add Noir black and white, hard shadows', BOB)).toContain(
      '✅ Style “noir” saved: add it to a prompt with `--style noir`.',
    );
    await generate('a detective --style noir', 'a detective', BOB);
    expect(createsWith('a detective')[0]?.prompt).toBe(
      'a detective, black and white, hard shadows',
    );

    const before = harness.api.creates().length;
    expect(await answerTo('a spy --style pastel', BOB)).toBe(
      'You have no style called “pastel”. Your styles: noir.',
    );
    expect(await answerTo('--prefer style add horror lots of gore', BOB)).toBe(
      'Your style contains a word that isn’t allowed here. Change the style or leave it out.',
    );
    expect(await answerTo('--prefer style add wide cinematic --ar 16:9', BOB)).toContain(
      'A style is plain text',
    );
    expect(await answerTo(`--prefer suffix ${'x'.repeat(201)}`, BOB)).toBe(
      'The suffix is too long: at most 200 characters.',
    );
    expect(await answerTo('--prefer style add no/slash a look', BOB)).toContain(
      'can’t be a style name',
    );
    for (let index = 2; index <= 20; index++) {
      expect(
        await answerTo(`--prefer style add look-${index} look number ${index}`, BOB),
      ).toContain(`Style “look-${index}” saved`);
    }
    expect(await answerTo('--prefer style add one-more too many', BOB)).toBe(
      'You can keep at most 20 styles. Remove one first.',
    );
    expect(await answerTo('--prefer style remove look-2', BOB)).toContain(
      'Style “look-2” removed.',
    );
    expect(await answerTo('--prefer style add one-more now it fits', BOB)).toContain(
      'Style “one-more” saved',
    );
    expect(harness.api.creates().length).toBe(before);
  });

  it('answers in French, clears, and keeps preferences across a restart', async () => {
    const saved = await answerTo('--prefer --ar 9:16 --res 2K --model 2', FRANCOIS);
    expect(saved).toContain('✅ Enregistré.');
    expect(saved).toContain('Format\u202F: `9:16`');

    await harness.restart();
    await generate('une tour', 'une tour', FRANCOIS);
    expect(createsWith('une tour')[0]).toMatchObject({
      model: 'nano-banana-2',
      aspect_ratio: '9:16',
      resolution: '2K',
    });
    expect(await answerTo('--prefer clear ratio', FRANCOIS)).toContain('Format\u202F: non défini');
    await generate('une autre tour', 'une autre tour', FRANCOIS);
    expect(createsWith('une autre tour')[0]?.aspect_ratio).toBeUndefined();
  });
});
