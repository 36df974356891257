/**
 * The moderation log on Slack, end to end: the real Bolt against the fake Slack, the mock API, the
 * whole service. The workspace's audit channel (its settings) and the operator's
 * (`SLACK_AUDIT_CHANNEL_ID`) get a line per accepted job, a line with the result's permalink or
 * why it failed, and a line per blocked-word refusal; posts keep to one per second per channel,
 * mention nobody, and a channel the bot is not in drops its lines with one warning.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import type { RecordedApiCall } from './fakes/slack/index.js';
import { type SlackHarness, startSlackHarness } from './helpers/slack-harness.js';

const ALICE = 'U0ALICE001';
const GENERAL = 'C0GENERAL1';
const MOD_LOG = 'C0MODLOG01';
const OPERATOR_LOG = 'C0OPERLOG1';
const CLOSED_LOG = 'C0CLOSED01';

let harness: SlackHarness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
});

async function start(env: Record<string, string> = {}): Promise<SlackHarness> {
  harness = await startSlackHarness({
    mode: 'socket',
    fake: {
      users: [{ id: ALICE, name: 'alice', locale: 'en-US' }],
      channels: [
        { id: GENERAL, name: 'general' },
        { id: MOD_LOG, name: 'mod-log' },
        { id: OPERATOR_LOG, name: 'operator-log' },
        { id: CLOSED_LOG, name: 'closed-log', botIsMember: false },
      ],
    },
    env: {
      NANO_BANANA_BLOCKED_WORDS: 'forbidden',
      NANO_BANANA_MAX_QUEUED_PER_USER: '100',
      NANO_BANANA_MAX_JOBS_PER_USER: '8',
      SLACK_AUDIT_CHANNEL_ID: OPERATOR_LOG,
      ...env,
    },
  });
  return harness;
}

/** The audit posts that reached a channel. */
function postsTo(running: SlackHarness, channel: string): RecordedApiCall[] {
  return running.fake
    .callsTo('chat.postMessage')
    .filter(
      (call) =>
        call.args.channel === channel &&
        (call.response as { ok?: boolean } | undefined)?.ok === true,
    );
}

function linesIn(running: SlackHarness, channel: string): string[] {
  return postsTo(running, channel).flatMap((call) => String(call.args.text ?? '').split('\n'));
}

function lineWaiting(
  running: SlackHarness,
  channel: string,
  predicate: (line: string) => boolean,
): Promise<string> {
  return running.fake.waitFor(() => linesIn(running, channel).find(predicate), {
    timeoutMs: 30_000,
  });
}

function mostWithin(calls: readonly RecordedApiCall[], windowMs: number): number {
  let most = 0;
  for (const call of calls) {
    const inWindow = calls.filter((other) => other.at >= call.at && other.at < call.at + windowMs);
    most = Math.max(most, inWindow.length);
  }
  return most;
}

const command = (running: SlackHarness, text: string) =>
  running.fake.deliverSlashCommand({
    command: '/imagine',
    text,
    userId: ALICE,
    channelId: GENERAL,
  });

describe('the moderation log on Slack', () => {
  it('logs an accepted job and its result’s permalink, a failure and a blocked word, in both logs', async () => {
    const running = await start();
    await running.service.engine.settings.saveServer('slack', running.fake.teamId, {
      auditChannelId: MOD_LOG,
    });
    await command(running, 'a harbour at night <!channel> <@U0SOMEONE1>');
    const job = await running.waitForJob((found) => found.prompt.startsWith('a harbour'), 30_000);
    for (const channel of [MOD_LOG, OPERATOR_LOG]) {
      const accepted = await lineWaiting(running, channel, (line) =>
        line.startsWith(`📝 \`${job.id}\``),
      );
      expect(accepted).toContain(`<#${GENERAL}>`);
      // Escaped: no `<!channel>` or `<@…>` markup reaches Slack from the prompt.
      expect(accepted).toContain('&lt;!channel&gt; &lt;@U0SOMEONE1&gt;');
      expect(accepted).not.toContain(`<@${ALICE}>`);
      const result = await lineWaiting(running, channel, (line) =>
        line.startsWith(`✅ \`${job.id}\``),
      );
      expect(result).toMatch(/\/archives\/C0GENERAL1\/p\d+/);
    }

    await command(running, 'a storm mock:fail');
    const failed: Job = await running.waitForJob((found) => found.prompt === 'a storm mock:fail');
    const failure = await lineWaiting(running, MOD_LOG, (line) =>
      line.startsWith(`❌ \`${failed.id}\``),
    );
    expect(failure).toContain(`(${failed.error?.code})`);

    await command(running, 'something forbidden');
    const refusal = await lineWaiting(running, MOD_LOG, (line) => line.startsWith('🚫'));
    expect(refusal).toContain('blocked word “forbidden”');
    expect(refusal).toContain('`something forbidden`');
    expect(linesIn(running, MOD_LOG).filter((line) => line.startsWith('🚫'))).toHaveLength(1);
    // Link previews stay off: a log of links would otherwise fill with images.
    for (const post of postsTo(running, MOD_LOG)) {
      expect([post.args.unfurl_links, post.args.unfurl_media]).toEqual(['false', 'false']);
    }
  });

  it('posts ten jobs’ lines at most once per second per channel, every line arriving', async () => {
    const running = await start();
    const prompts = Array.from({ length: 10 }, (_, index) => `burst job ${index}`);
    await Promise.all(prompts.map((prompt) => command(running, prompt)));
    const jobs = await Promise.all(
      prompts.map((prompt) => running.waitForJob((found) => found.prompt === prompt, 30_000)),
    );
    await running.fake.waitFor(
      () => {
        const lines = linesIn(running, OPERATOR_LOG);
        return jobs.every(
          (job) =>
            lines.some((line) => line.startsWith(`📝 \`${job.id}\``)) &&
            lines.some((line) => line.startsWith(`✅ \`${job.id}\``)),
        );
      },
      { timeoutMs: 60_000 },
    );
    expect(linesIn(running, OPERATOR_LOG)).toHaveLength(20);
    const posts = postsTo(running, OPERATOR_LOG);
    expect(posts.length).toBeGreaterThan(1);
    expect(mostWithin(posts, 1000)).toBe(1);
  });

  it('a hanging audit channel does not delay the jobs’ results', async () => {
    const running = await start();
    const release = running.fake.holdChannel(OPERATOR_LOG);
    const prompts = ['first while the log hangs', 'second while the log hangs', 'third'];
    await command(running, prompts[0] ?? '');
    await running.fake.waitFor(
      () =>
        running.fake
          .callsTo('chat.postMessage')
          .some((call) => call.args.channel === OPERATOR_LOG && call.status === 0),
      { timeoutMs: 30_000 },
    );
    for (const prompt of prompts.slice(1)) await command(running, prompt);
    const jobs = await Promise.all(
      prompts.map((prompt) => running.waitForJob((found) => found.prompt === prompt, 30_000)),
    );
    expect(jobs.map((job) => job.state)).toEqual(['done', 'done', 'done']);
    // Every result was delivered while the audit post still hung.
    expect(linesIn(running, OPERATOR_LOG)).toEqual([]);
    release();
    await running.fake.waitFor(
      () =>
        jobs.every((job) =>
          linesIn(running, OPERATOR_LOG).some((line) => line.startsWith(`✅ \`${job.id}\``)),
        ),
      { timeoutMs: 30_000 },
    );
  });

  it('drops the lines of a channel the bot is not in, with one warning', async () => {
    const running = await start({ SLACK_AUDIT_CHANNEL_ID: CLOSED_LOG });
    await running.service.engine.settings.saveServer('slack', running.fake.teamId, {
      auditChannelId: MOD_LOG,
    });
    await command(running, 'first for a closed log');
    await command(running, 'second for a closed log');
    const jobs = [
      await running.waitForJob((found) => found.prompt === 'first for a closed log', 30_000),
      await running.waitForJob((found) => found.prompt === 'second for a closed log', 30_000),
    ];
    // Every line also went to the open log, written together with the closed one's: once the
    // open log has them all, the poster has seen every line of the closed one too.
    await running.fake.waitFor(
      () =>
        jobs.every((job) =>
          linesIn(running, MOD_LOG).some((line) => line.startsWith(`✅ \`${job.id}\``)),
        ),
      { timeoutMs: 30_000 },
    );
    const warned = () =>
      running.logs.filter((line) => line.includes('may not post in this audit channel'));
    await running.fake.waitFor(() => warned().length > 0);
    const tried = running.fake
      .callsTo('chat.postMessage')
      .filter((call) => call.args.channel === CLOSED_LOG);
    expect(tried).toHaveLength(1);
    expect(warned()).toHaveLength(1);
    expect(warned()[0]).toContain('not_in_channel');
  });
});
