import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../src/core/index.js';
import type { FakeSlack } from './fakes/slack/index.js';
import { pngOf, type SlackHarness, startSlackHarness } from './helpers/slack-harness.js';

/**
 * Issue 9 §2 through the real Bolt, over HTTP: a Slack file whose download redirects off Slack's
 * file host, and `response_url`s (from a payload, or from a modal's `private_metadata`) that
 * point anywhere but Slack's hooks host. A loopback "metadata" server stands for the operator's
 * internal network and records every request it gets: none may reach it.
 */

const ALICE = 'U0ALICE001';
const GENERAL = 'C0GENERAL1';

let harness: SlackHarness;
let metadata: { origin: string; seen: string[]; server: Server };

beforeAll(async () => {
  const seen: string[] = [];
  const server = createServer((request, response) => {
    seen.push(`${request.method} ${request.url}`);
    response.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.alloc(8));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  metadata = { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
  harness = await startSlackHarness({
    mode: 'http',
    fake: {
      users: [{ id: ALICE, name: 'alice', locale: 'en-US' }],
      channels: [{ id: GENERAL, name: 'general' }],
    },
  });
});
afterAll(async () => {
  await harness?.close();
  metadata.server.closeAllConnections();
  await new Promise<void>((resolve) => metadata.server.close(() => resolve()));
});

const eventsUrl = () => `${harness.service.http.url}/slack/events`;
const ephemeralsTo = (fake: FakeSlack, userId: string) =>
  fake.messages(GENERAL).filter((message) => message.ephemeralTo === userId);

describe('Slack downloads and response URLs', () => {
  it('never follows a file download that redirects off Slack’s file host, and says why', async () => {
    const { fake } = harness;
    const shared = fake.addFile({
      name: 'sky.png',
      mimetype: 'image/png',
      bytes: await pngOf('#3355ff'),
      userId: ALICE,
    });
    const post = fake.userMessage({ channel: GENERAL, user: ALICE, text: 'sky', files: [shared] });
    const threadTs = post.ts;
    await fake.deliverInteraction(
      fake.messageShortcutPayload({
        userId: ALICE,
        channel: GENERAL,
        message: post,
        callbackId: 'edit_image',
      }),
    );
    const view = await fake.waitFor(() =>
      fake.views().find((candidate) => candidate.callback_id === 'nb_edit_message'),
    );
    fake.failNext('download', {
      status: 302,
      headers: { location: `${metadata.origin}/latest/meta-data/iam/security-credentials/` },
    });
    await fake.deliverInteraction(
      fake.viewSubmissionPayload({
        userId: ALICE,
        view,
        values: { nb_prompt: { prompt: { type: 'plain_text_input', value: 'add this sky' } } },
      }),
    );

    const failed: Job = await harness.waitForJob((job) => job.prompt === 'add this sky', 15_000);
    expect(failed).toMatchObject({
      state: 'failed',
      error: { code: 'invalid_input', params: { reason: 'slack_file_elsewhere', name: 'sky.png' } },
    });
    const notice = await fake.waitFor(() =>
      fake
        .thread(GENERAL, threadTs)
        .find((message) => message.user === fake.botUserId && message.text.includes('sky.png')),
    );
    expect(notice.text).toContain('I can only read files stored on Slack');
    expect(metadata.seen).toEqual([]);
    expect(
      harness.api
        .creates()
        .filter((call) => (call.body as { prompt?: string }).prompt === 'add this sky'),
    ).toEqual([]);
  });

  it('answers privately without posting to a response_url outside Slack', async () => {
    const { fake } = harness;
    const body = new URLSearchParams(
      fake.slashCommandBody({
        command: '/imagine',
        text: '--help',
        userId: ALICE,
        channelId: GENERAL,
      }),
    );
    body.set('response_url', `${metadata.origin}/latest/meta-data/`);
    const before = ephemeralsTo(fake, ALICE).length;
    const response = await fetch(eventsUrl(), {
      method: 'POST',
      ...fake.signedRequest(body.toString()),
    });
    expect(response.status).toBe(200);
    const answer = await fake.waitFor(() =>
      ephemeralsTo(fake, ALICE)
        .slice(before)
        .find((message) => message.text.includes('How to use Nano Banana')),
    );
    expect(answer.ephemeralTo).toBe(ALICE);
    expect(metadata.seen).toEqual([]);
  });

  it('ignores a response_url slipped into a modal’s private_metadata', async () => {
    const { fake } = harness;
    const post = fake.userMessage({
      channel: GENERAL,
      user: ALICE,
      text: 'my tree',
      files: [
        fake.addFile({
          name: 'tree.png',
          mimetype: 'image/png',
          bytes: await pngOf('#22aa44'),
          userId: ALICE,
        }),
      ],
    });
    await fake.deliverInteraction(
      fake.messageShortcutPayload({
        userId: ALICE,
        channel: GENERAL,
        message: post,
        callbackId: 'edit_image',
      }),
    );
    const view = await fake.waitFor(() =>
      fake.views().find((candidate) => candidate.callback_id === 'nb_edit_message'),
    );
    const forged = {
      ...JSON.parse(String(view.private_metadata)),
      responseUrl: `${metadata.origin}/computeMetadata/v1/`,
    };
    const before = ephemeralsTo(fake, ALICE).length;
    // A refusal shows in the form itself; the response_url is for what comes after the form
    // closed: here the status message cannot be posted, and the user is told privately.
    fake.failNext('chat.postMessage', 'not_in_channel');
    await fake.deliverInteraction(
      fake.viewSubmissionPayload({
        userId: ALICE,
        view: { ...view, private_metadata: JSON.stringify(forged) },
        values: { nb_prompt: { prompt: { type: 'plain_text_input', value: 'make it blue' } } },
      }),
    );
    await fake.waitFor(
      () =>
        ephemeralsTo(fake, ALICE)
          .slice(before)
          .find((message) => message.text.includes('I can’t post in this conversation yet')),
      { timeoutMs: 15_000 },
    );
    expect(metadata.seen).toEqual([]);
  });
});
