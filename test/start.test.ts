import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from '../src/cli/context.js';
import { main } from '../src/cli/main.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord } from './fakes/discord/index.js';

const TOKEN = 'start-token-1234';
let api: MockApi;
let fake: FakeDiscord;

beforeAll(async () => {
  api = await startMockApi({ token: TOKEN, delayMs: 50 });
  fake = await FakeDiscord.start();
});
afterAll(async () => {
  await fake.close();
  await api.close();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(
  args: string[],
  env: Record<string, string>,
  stopSignal?: AbortSignal,
): { done: Promise<Run>; output: () => string } {
  let stdout = '';
  let stderr = '';
  const context: CliContext = {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env: { DATA_DIR: mkdtempSync(path.join(tmpdir(), 'nb-start-')), PORT: '0', ...env },
    cwd: mkdtempSync(path.join(tmpdir(), 'nb-start-cwd-')),
    ...(stopSignal ? { stopSignal } : {}),
  };
  return {
    done: main(args, context).then((code) => ({ code, stdout, stderr })),
    output: () => stdout + stderr,
  };
}

describe('nano-banana start', () => {
  it('exits 1 with a short guide when no platform is configured', async () => {
    const result = await run(['start'], { ACEDATA_API_TOKEN: TOKEN }).done;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('DISCORD_TOKEN');
    expect(result.stderr).toContain('SLACK_BOT_TOKEN');
    expect(result.stderr).toContain('slack/manifest.yml');
    expect(result.stderr).toContain('ACEDATA_API_TOKEN');
  });

  it('says plainly which token is wrong', async () => {
    const badApi = await run(['start'], {
      ACEDATA_API_TOKEN: 'wrong',
      ACEDATA_BASE_URL: api.url,
      DISCORD_TOKEN: fake.botToken,
      DISCORD_API_URL: fake.apiUrl,
    }).done;
    expect(badApi.code).toBe(1);
    expect(badApi.stderr).toMatch(/refused ACEDATA_API_TOKEN/);
    const badDiscord = await run(['start'], {
      ACEDATA_API_TOKEN: TOKEN,
      ACEDATA_BASE_URL: api.url,
      DISCORD_TOKEN: 'not-the-token',
      DISCORD_API_URL: fake.apiUrl,
    }).done;
    expect(badDiscord.code).toBe(1);
    expect(badDiscord.stderr).toMatch(/DISCORD_TOKEN/);
    expect(badDiscord.stderr).not.toContain('not-the-token');
  });

  it('runs the Discord bot with health on the shared HTTP server, and stops cleanly', async () => {
    const controller = new AbortController();
    const started = run(
      ['start'],
      {
        ACEDATA_API_TOKEN: TOKEN,
        ACEDATA_BASE_URL: api.url,
        DISCORD_TOKEN: fake.botToken,
        DISCORD_API_URL: fake.apiUrl,
        LOG_LEVEL: 'info',
      },
      controller.signal,
    );
    const port = await fake.waitFor(() => /"port":(\d+)/.exec(started.output())?.[1], {
      description: 'the running line',
    });
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(await ready.json()).toMatchObject({
      ready: true,
      checks: { engine: true, discord: true },
    });
    const interaction = fake.sendSlashCommand({
      name: 'imagine',
      options: { prompt: 'from start' },
    });
    await fake.waitFor(
      () => fake.interactionResponses(interaction.id).original?.attachments.length || undefined,
      { timeoutMs: 15_000 },
    );
    controller.abort();
    const result = await started.done;
    expect(result.code).toBe(0);
    expect(result.stderr).not.toContain(fake.botToken);
    expect(result.stderr).not.toContain(TOKEN);
  });
});

describe('nano-banana register', () => {
  it('registers the commands and prints the invite URL with the permissions needed', async () => {
    const result = await run(['register'], {
      DISCORD_TOKEN: fake.botToken,
      DISCORD_API_URL: fake.apiUrl,
      DISCORD_GUILD_IDS: fake.guildId,
    }).done;
    expect(result.code).toBe(0);
    const url = new URL(
      /https:\/\/discord\.com\/oauth2\/authorize\S+/.exec(result.stdout)?.[0] ?? 'https://x',
    );
    expect(url.searchParams.get('client_id')).toBe(fake.applicationId);
    expect(url.searchParams.get('scope')).toBe('bot applications.commands');
    // View Channel, Send Messages, Send in Threads, Create Public Threads, Attach Files, Embed Links,
    // Read History, Manage Threads (Delete removes the result's thread).
    expect(BigInt(url.searchParams.get('permissions') ?? '0')).toBe(
      (1n << 10n) |
        (1n << 11n) |
        (1n << 38n) |
        (1n << 35n) |
        (1n << 15n) |
        (1n << 14n) |
        (1n << 16n) |
        (1n << 34n),
    );
    expect(
      fake
        .commands(fake.guildId)
        .map((command) => command.name)
        .sort(),
    ).toEqual(['Edit image', 'blend', 'help', 'history', 'imagine', 'prefer', 'settings', 'usage']);
  });

  it('exits 2 without a token', async () => {
    const result = await run(['register'], {}).done;
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('DISCORD_TOKEN');
  });
});
