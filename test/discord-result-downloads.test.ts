import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord, type FakeMessage } from './fakes/discord/index.js';
import { API_TOKEN, type DiscordBot, startDiscordBot } from './helpers/discord-harness.js';

// A result CDN that hiccups or loses an image, seen through the real discord.js against the fake
// Discord: the images are paid for, so a transient failure must not lose them.

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
  api.setImageFaults(undefined);
});

async function start(): Promise<void> {
  fake = await FakeDiscord.start();
  bot = await startDiscordBot(fake, api);
  await fake.ready();
}

/** The interaction's reply once it holds images, or its failure text. */
async function outcomeOf(interactionId: string): Promise<FakeMessage> {
  return fake.waitFor(
    () => {
      const original = fake.interactionResponses(interactionId).original;
      if (original === undefined) return undefined;
      const failed = /problem|problème/i.test(original.content);
      return original.attachments.length > 0 || failed ? original : undefined;
    },
    { timeoutMs: 20_000, description: 'the result' },
  );
}

const downloadsOf = (prompt: string) => {
  const paths = new Set(
    [...api.tasks.values()]
      .filter((task) => task.request.prompt === prompt)
      .flatMap((task) =>
        task.response?.success === true ? task.response.data.map((image) => image.image_url) : [],
      )
      .map((url) => new URL(url).pathname),
  );
  return api.calls.filter((call) => call.method === 'GET' && paths.has(call.path));
};

describe('Discord results from a result CDN that fails', () => {
  it('delivers after the CDN answered 502 once and then 429 with Retry-After', async () => {
    api.setImageFaults(({ prompt, attempt }) => {
      if (prompt !== 'a cdn hiccup on discord') return undefined;
      if (attempt === 1) return { status: 502 };
      if (attempt === 2) return { status: 429, retryAfter: 1 };
      return undefined;
    });
    await start();
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'a cdn hiccup on discord' },
    });
    const result = await outcomeOf(interaction.id);
    expect(result.attachments).toHaveLength(1);
    expect(result.content).not.toMatch(/missing/i);
    expect(downloadsOf('a cdn hiccup on discord').map((call) => call.status)).toEqual([
      502, 429, 200,
    ]);
    const [, limited, ok] = downloadsOf('a cdn hiccup on discord');
    // Retry-After: 1 was honoured.
    expect((ok?.at ?? 0) - (limited?.at ?? 0)).toBeGreaterThanOrEqual(900);
  });

  it.each([
    ['en-US', 'three foxes', /1 image is missing/],
    ['fr', 'trois renards', /1 image manque/],
  ])(
    'delivers the images it got when one is lost for good, saying one is missing (%s)',
    async (locale, prompt, note) => {
      api.setImageFaults((download) =>
        download.prompt === prompt && download.index === 2 ? { status: 404 } : undefined,
      );
      await start();
      const interaction = fake.sendSlashCommand({
        name: 'imagine',
        locale,
        options: { prompt: `${prompt} --count 3` },
      });
      const result = await outcomeOf(interaction.id);
      expect(result.attachments).toHaveLength(2);
      expect(result.content).toMatch(note);
      // Not blamed on the model: it returned all three.
      expect(result.content).not.toMatch(/Only|Seules?/);
    },
  );
});
