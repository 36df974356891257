import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SlackHarness, startSlackHarness } from './helpers/slack-harness.js';

/**
 * Issue 13, batches and history on Slack, end to end through the real Bolt against the fake
 * Slack: `{a, b}` groups and `--repeat` from the command and from mentions make one job per
 * prompt, each with its own status message; a batch the quota cannot cover is refused whole
 * before anything is posted or stored; `--history` lists the last jobs with permalinks;
 * `--usage` counts this week's images.
 */

const ALICE = 'U0ALICE001';
const GENERAL = 'C0GENERAL1';
const USERS = [{ id: ALICE, name: 'alice', locale: 'en-US' }];
const FRENCH_USERS = [{ id: ALICE, name: 'alice', locale: 'fr-FR' }];

interface SlackDestination {
  channel: string;
  threadTs: string;
  statusTs: string;
}

function helpers(harness: () => SlackHarness) {
  const command = (text: string) =>
    harness().fake.deliverSlashCommand({
      command: '/imagine',
      text,
      userId: ALICE,
      channelId: GENERAL,
    });
  const promptsWith = (word: string) =>
    harness()
      .api.creates()
      .map((call) => String((call.body as { prompt?: string }).prompt))
      .filter((prompt) => prompt.includes(word))
      .sort();
  const jobsDone = (word: string, count: number) =>
    harness().fake.waitFor(
      () => {
        const done = harness().finished.filter((job) => job.prompt.includes(word));
        return done.length >= count ? done : undefined;
      },
      { timeoutMs: 30_000 },
    );
  /** The private answers (response_url posts) so far, as text. */
  const responseTexts = () =>
    harness().fake.responses.map((response) => (response.body as { text?: string }).text ?? '');
  /** Waits for a private answer past the first `before` and returns it. */
  const nextResponse = (before: number) => harness().fake.waitFor(() => responseTexts()[before]);
  /** Status messages the bot posted in the channel whose text holds `word`. */
  const statusesWith = (word: string) =>
    harness()
      .fake.messages(GENERAL)
      .filter(
        (message) =>
          message.user === harness().fake.botUserId &&
          message.ephemeralTo === undefined &&
          JSON.stringify(message.blocks ?? message.text).includes(word),
      );
  return { command, promptsWith, jobsDone, responseTexts, nextResponse, statusesWith };
}

describe('Slack batches, --history and --usage', () => {
  let harness: SlackHarness;
  const use = helpers(() => harness);

  beforeAll(async () => {
    harness = await startSlackHarness({
      mode: 'socket',
      fake: { users: USERS, channels: [{ id: GENERAL, name: 'general' }] },
      env: { NANO_BANANA_RETENTION_DAYS: '2' },
    });
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('{red, blue} bird --repeat 2 makes four jobs, each with its own status message and thread', async () => {
    const before = use.responseTexts().length;
    await use.command('{red, blue} bird --repeat 2');
    const jobs = await use.jobsDone('bird', 4);
    expect(use.promptsWith('bird')).toEqual(['blue bird', 'blue bird', 'red bird', 'red bird']);
    expect(await use.nextResponse(before)).toBe('4 jobs queued. Each gets its own message below.');
    const statuses = new Set(jobs.map((job) => (job.destination as SlackDestination).statusTs));
    expect(statuses.size).toBe(4);
    expect(use.statusesWith('bird')).toHaveLength(4);
    // Each job's images went into its own thread.
    for (const job of jobs) {
      const { channel, threadTs } = job.destination as SlackDestination;
      expect(harness.fake.thread(channel, threadTs).some((m) => (m.files ?? []).length > 0)).toBe(
        true,
      );
    }
    expect(new Set(jobs.map((job) => job.dedupKey)).size).toBe(4);
    expect(jobs.every((job) => /^slack:cmd:.+:[0-3]$/.test(job.dedupKey ?? ''))).toBe(true);
  });

  it('refuses more than 8 jobs, saying how many, and posts nothing', async () => {
    const before = use.responseTexts().length;
    await use.command('{a, b, c} {d, e, f} toomany');
    expect(await use.nextResponse(before)).toMatch(
      /would make 9 jobs; one command makes at most 8/,
    );
    expect(use.promptsWith('toomany')).toEqual([]);
    expect(use.statusesWith('toomany')).toEqual([]);
  });

  it('expands a mention’s prompt into jobs in the mention’s thread', async () => {
    const { fake } = harness;
    const mention = fake.userMessage({
      channel: GENERAL,
      user: ALICE,
      text: `<@${fake.botUserId}> {red, blue} fox`,
    });
    await fake.deliverEvent(fake.appMentionEvent(GENERAL, mention));
    const jobs = await use.jobsDone('fox', 2);
    expect(use.promptsWith('fox')).toEqual(['blue fox', 'red fox']);
    expect(jobs.map((job) => (job.destination as SlackDestination).threadTs)).toEqual([
      mention.ts,
      mention.ts,
    ]);
    await fake.waitFor(
      () =>
        fake
          .messages(GENERAL)
          .some(
            (message) =>
              message.ephemeralTo === ALICE &&
              message.text === '2 jobs queued. Each gets its own message below.',
          ) || undefined,
    );
  });

  it('--history lists the last jobs, newest first, with dates, states and permalinks', async () => {
    await use.command('{one, two} historycat');
    const jobs = await use.jobsDone('historycat', 2);
    const before = use.responseTexts().length;
    await use.command('--history');
    const history = await use.nextResponse(before);
    const lines = history.split('\n');
    expect(lines[0]).toBe('*Your last requests here:*');
    // Ten at most, newest first: the history cats were the last two.
    const made = harness.finished.filter((job) => job.requesterId === ALICE).length;
    expect(lines.slice(1, -1)).toHaveLength(Math.min(10, made));
    // A batch's jobs share their creation time: the two newest lines are theirs, in either order.
    const newest = lines.slice(1, 3);
    for (const job of jobs) {
      const { channel, statusTs } = job.destination as SlackDestination;
      const buttonsTs = (job.delivery as { buttonsTs?: string }).buttonsTs ?? statusTs;
      const seconds = Math.floor(job.createdAt / 1000);
      const line = newest.find((each) => each.includes(`“${job.prompt}”`));
      expect(line).toMatch(
        new RegExp(
          `^• <!date\\^${seconds}\\^\\{date_short_pretty\\} \\{time\\}\\|[^>]+ UTC> · done · “${job.prompt}” · <https?://[^|]+/archives/${channel}/p${buttonsTs.replace('.', '')}[^|]*\\|result>$`,
        ),
      );
    }
    expect(lines.at(-1)).toBe('_Requests are forgotten after 2 days._');
  });

  it('--usage adds the images made this ISO week', async () => {
    const before = use.responseTexts().length;
    await use.command('--usage');
    const weekImages = harness.finished
      .filter((job) => job.requesterId === ALICE)
      .reduce((sum, job) => sum + (job.options.count ?? 1), 0);
    expect(await use.nextResponse(before)).toBe(
      `You have no image limit.\nThis week (since Monday, UTC): ${weekImages} images.`,
    );
  });
});

describe('Slack batches under a quota', () => {
  let harness: SlackHarness;
  const use = helpers(() => harness);

  beforeAll(async () => {
    harness = await startSlackHarness({
      mode: 'http',
      fake: { users: FRENCH_USERS, channels: [{ id: GENERAL, name: 'general' }] },
      env: { NANO_BANANA_DAILY_IMAGES_PER_USER: '3' },
    });
  });
  afterAll(async () => {
    await harness?.close();
  });

  it('refuses every job when the quota cannot cover them all: nothing posted, stored or sent', async () => {
    const before = use.responseTexts().length;
    await use.command('{a, b} {c, d} quotabird');
    expect(await use.nextResponse(before)).toMatch(/limite quotidienne de 3 images/);
    expect(use.promptsWith('quotabird')).toEqual([]);
    expect(use.statusesWith('quotabird')).toEqual([]);
    expect(await harness.service.engine.recentJobs(ALICE, 'slack', 10)).toEqual([]);

    await use.command('{a, b, c} quotabird');
    await use.jobsDone('quotabird', 3);
    expect(use.promptsWith('quotabird')).toEqual(['a quotabird', 'b quotabird', 'c quotabird']);
    const usage = use.responseTexts().length;
    await use.command('--usage');
    expect(await use.nextResponse(usage)).toBe(
      'Il ne vous reste plus d’images.\nCette semaine (depuis lundi, UTC)\u202F: 3 images.',
    );
  });
});
