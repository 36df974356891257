import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from '../src/cli/context.js';
import { main } from '../src/cli/main.js';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';

const TOKEN = 'cli-token-abcdef';
let api: MockApi;

beforeAll(async () => {
  api = await startMockApi({ token: TOKEN, delayMs: 30 });
});
afterAll(async () => {
  await api.close();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  args: string[],
  env: Record<string, string> = {},
  stopSignal?: AbortSignal,
  onStdout?: (text: string) => void,
): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const cwd = mkdtempSync(path.join(tmpdir(), 'nb-cli-'));
  const context: CliContext = {
    stdout: {
      write: (text: string) => {
        stdout += text;
        onStdout?.(stdout);
      },
    },
    stderr: { write: (text: string) => (stderr += text) },
    env: {
      ACEDATA_API_TOKEN: TOKEN,
      ACEDATA_BASE_URL: api.url,
      NANO_BANANA_POLL_INTERVAL_MS: '100',
      LANG: 'en_US.UTF-8',
      ...env,
    },
    cwd,
    ...(stopSignal ? { stopSignal } : {}),
  };
  const code = await main(args, context);
  return { code, stdout, stderr };
}

describe('nano-banana imagine', () => {
  it('generates, writes <short-prompt>-<task>-<n>.png and prints each path', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'nb-out-'));
    const result = await run([
      'imagine',
      'A white Siamese cat!',
      '--ar',
      '16:9',
      '--count',
      '2',
      '--out',
      out,
    ]);
    expect(result.stderr).toContain('Done in');
    expect(result.code).toBe(0);
    const paths = result.stdout.trim().split('\n');
    expect(paths).toHaveLength(2);
    for (const [index, file] of paths.entries()) {
      expect(path.basename(file)).toMatch(
        new RegExp(`^a-white-siamese-cat-[a-zA-Z0-9]{1,8}-${index + 1}\\.png$`),
      );
      const metadata = await sharp(readFileSync(file)).metadata();
      expect([metadata.width, metadata.height]).toEqual([1344, 768]);
    }
    expect(api.creates().at(-1)?.body).toMatchObject({
      action: 'generate',
      aspect_ratio: '16:9',
      count: 2,
      async: true,
    });
  });

  it('prints one JSON object with --json', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'nb-out-'));
    const result = await run(['imagine', 'a dog —model pro —res=2K', '--json', '--out', out]);
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout) as { ok: boolean; taskId: string; files: string[] };
    expect(parsed.ok).toBe(true);
    expect(parsed.files).toHaveLength(1);
    expect(readdirSync(out)).toHaveLength(1);
    expect(api.creates().at(-1)?.body).toMatchObject({
      model: 'nano-banana-pro',
      resolution: '2K',
      prompt: 'a dog',
    });
  });

  it('edits a local file, sending its bytes as a data: URL', async () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'nb-in-'));
    const input = path.join(folder, 'photo.png');
    const bytes = await sharp({
      create: { width: 64, height: 48, channels: 3, background: '#3366cc' },
    })
      .png()
      .toBuffer();
    writeFileSync(input, bytes);
    const result = await run(['imagine', 'make it red', '--image', input, '--out', folder]);
    expect(result.code).toBe(0);
    const body = api.creates().at(-1)?.body as { action: string; image_urls: string[] };
    expect(body.action).toBe('edit');
    expect(body.image_urls).toEqual([`data:image/png;base64,${bytes.toString('base64')}`]);
  });

  it('blends 2 to 5 --image with --blend, "blend these images" when no prompt is typed', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'nb-out-'));
    const images = ['a', 'b', 'c'].map((name) => ['--image', `https://example.com/${name}.png`]);
    const result = await run(['imagine', '--blend', ...images.flat(), '--out', out]);
    expect(result.code).toBe(0);
    expect(api.creates().at(-1)?.body).toMatchObject({
      action: 'edit',
      prompt: 'blend these images',
      image_urls: [
        'https://example.com/a.png',
        'https://example.com/b.png',
        'https://example.com/c.png',
      ],
    });
    const before = api.creates().length;
    const one = await run(['imagine', 'together --blend', ...(images[0] ?? []), '--out', out]);
    expect(one.code).toBe(2);
    expect(one.stderr).toContain('A blend needs 2 to 5 images, and I found 1.');
    expect(api.creates().length).toBe(before);
  });

  it('passes a public URL through untouched', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'nb-out-'));
    const result = await run([
      'imagine',
      'edit it',
      '--image',
      'https://example.com/cat.png',
      '--out',
      out,
    ]);
    expect(result.code).toBe(0);
    expect(api.creates().at(-1)?.body).toMatchObject({
      image_urls: ['https://example.com/cat.png'],
    });
  });

  it('exits 2 and sends nothing for bad usage or input', async () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'nb-in-'));
    const notImage = path.join(folder, 'notes.png');
    writeFileSync(notImage, 'just some text, not a picture');
    const before = api.creates().length;
    const cases: [string[], RegExp][] = [
      [['imagine', 'a cat', '--ar', '5:4'], /1:1, 3:2/],
      [['imagine', 'a cat', '--frobnicate'], /--frobnicate/],
      [['imagine', 'a cat', '--style', 'noir'], /--style/],
      [['imagine', '   '], /describe/i],
      [['imagine', 'a cat', '--model', 'banana', '--res', '4K'], /1K/],
      [['imagine', 'a cat', '--count', '9'], /1.*4/],
      [['imagine', 'a cat', '--image', notImage], /notes\.png/],
      [['imagine', 'a cat', '--image', path.join(folder, 'missing.png')], /missing\.png/],
      [['imagine', 'a cat', '--out'], /--out needs a value/],
    ];
    for (const [args, message] of cases) {
      const result = await run(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
    expect(api.creates().length).toBe(before);
  });

  it('exits 2 naming the variable when the token or a setting is missing or wrong', async () => {
    const noToken = await run(['imagine', 'a cat'], { ACEDATA_API_TOKEN: '' });
    expect(noToken.code).toBe(2);
    expect(noToken.stderr).toContain('ACEDATA_API_TOKEN');
    const badSetting = await run(['imagine', 'a cat'], { NANO_BANANA_MAX_PROMPT: 'many' });
    expect(badSetting.code).toBe(2);
    expect(badSetting.stderr).toContain('NANO_BANANA_MAX_PROMPT');
  });

  it('exits 1 with the catalogue text when the API refuses, in French when the terminal is', async () => {
    const usedUp = await run(['imagine', 'a cat mock:error=used_up']);
    expect(usedUp.code).toBe(1);
    expect(usedUp.stderr).toMatch(/credits/i);
    const refused = await run(['imagine', 'a cat mock:fail'], { LANG: 'fr_FR.UTF-8' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/filtre de sécurité/i);
    expect(refused.stderr).toMatch(/identifiant de trace/);
    expect(refused.stderr).not.toContain(TOKEN);
  });

  it('speaks to the operator: names ACEDATA_API_TOKEN when refused, says the account has no credits', async () => {
    const refused = await run(['imagine', 'a cat'], { ACEDATA_API_TOKEN: 'not-the-token' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('The API refused ACEDATA_API_TOKEN.');
    expect(refused.stderr).not.toMatch(/tell an admin/i);
    expect(refused.stderr).not.toContain('not-the-token');
    const usedUp = await run(['imagine', 'a cat mock:error=used_up']);
    expect(usedUp.code).toBe(1);
    expect(usedUp.stderr).toContain('has no credits left');
    expect(usedUp.stderr).not.toMatch(/ask an admin/i);
    const refusedInFrench = await run(['imagine', 'a cat'], {
      ACEDATA_API_TOKEN: 'not-the-token',
      LANG: 'fr_FR.UTF-8',
    });
    expect(refusedInFrench.stderr).toContain('L’API a refusé ACEDATA_API_TOKEN.');
    const task = await run(['task', 'some-task-id'], { ACEDATA_API_TOKEN: 'not-the-token' });
    expect(task.code).toBe(1);
    expect(task.stderr).toContain('The API refused ACEDATA_API_TOKEN.');
  });

  it('downloads a result again after a 502 and a 429 with Retry-After, and exits 0', async () => {
    api.setImageFaults(({ prompt, attempt }) => {
      if (prompt !== 'a flaky cdn') return undefined;
      if (attempt === 1) return { status: 502 };
      if (attempt === 2) return { status: 429, retryAfter: 1 };
      return undefined;
    });
    try {
      const out = mkdtempSync(path.join(tmpdir(), 'nb-out-'));
      const result = await run(['imagine', 'a flaky cdn', '--out', out]);
      expect(result.stderr).toContain('Done in');
      expect(result.code).toBe(0);
      expect(readdirSync(out)).toHaveLength(1);
      expect(result.stderr).toMatch(/Image 1 of 1: .*502.*trying again/);
      expect(result.stderr).toMatch(/Image 1 of 1: .*429.*trying again in 1 s/);
    } finally {
      api.setImageFaults(undefined);
    }
  });

  it('writes the images it got, names the missing one, and exits 1', async () => {
    api.setImageFaults(({ prompt, index }) =>
      prompt.startsWith('three cats') && index === 2 ? { status: 404 } : undefined,
    );
    try {
      const out = mkdtempSync(path.join(tmpdir(), 'nb-out-'));
      const result = await run(['imagine', 'three cats', '--count', '3', '--out', out]);
      expect(result.code).toBe(1);
      const written = result.stdout.trim().split('\n');
      expect(written.map((file) => path.basename(file))).toEqual([
        expect.stringMatching(/^three-cats-.*-1\.png$/),
        expect.stringMatching(/^three-cats-.*-3\.png$/),
      ]);
      expect(readdirSync(out).sort()).toEqual(written.map((file) => path.basename(file)).sort());
      expect(result.stderr).toMatch(
        /image 2 of 3 \(http:\/\/127\.0\.0\.1:\d+\/images\/[0-9a-f-]+\.png\)/,
      );
      expect(result.stderr).toContain('1 image is missing');

      const french = await run(
        ['imagine', 'three cats en français', '--count', '3', '--out', out, '--json'],
        { LANG: 'fr_FR.UTF-8' },
      );
      expect(french.code).toBe(1);
      expect(french.stderr).toContain('1 image manque');
      const parsed = JSON.parse(french.stdout) as {
        ok: boolean;
        files: string[];
        missing: { index: number; url: string; error: { code: string; status: number } }[];
      };
      expect(parsed.ok).toBe(false);
      expect(parsed.files).toHaveLength(2);
      expect(parsed.missing).toEqual([
        expect.objectContaining({ index: 2, error: expect.objectContaining({ status: 404 }) }),
      ]);
    } finally {
      api.setImageFaults(undefined);
    }
  });

  it('exits 1 when the API cannot be reached', async () => {
    const result = await run(['imagine', 'a cat'], { ACEDATA_BASE_URL: 'http://127.0.0.1:9' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/reach/i);
  });
});

describe('nano-banana task', () => {
  it('prints pending, done with URLs, and failed', async () => {
    const generated = await run([
      'imagine',
      'for the task command',
      '--json',
      '--out',
      mkdtempSync(path.join(tmpdir(), 'nb-')),
    ]);
    const { taskId } = JSON.parse(generated.stdout) as { taskId: string };
    const done = await run(['task', taskId]);
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(new RegExp(`^${taskId}: done\\n${api.url}/images/`));

    api.setDelay(60_000);
    const pending = await run(
      ['imagine', 'never finishes', '--json'],
      {},
      AbortSignal.timeout(1500),
    );
    expect(pending.code).toBe(1);
    const pendingId = [...api.tasks.values()].find(
      (task) => task.request.prompt === 'never finishes',
    )?.id;
    expect(
      api
        .creates()
        .filter((call) => (call.body as { prompt?: string }).prompt === 'never finishes'),
    ).toHaveLength(1);
    expect(pendingId).toMatch(/\S/);
    const state = await run(['task', pendingId ?? '', '--json']);
    expect(JSON.parse(state.stdout)).toMatchObject({ id: pendingId, state: 'pending' });
    api.setDelay(30);

    const failing = await run(['imagine', 'x mock:fail', '--json']);
    const failedId = (JSON.parse(failing.stdout) as { ok: boolean }).ok
      ? undefined
      : [...api.tasks.values()].at(-1)?.id;
    const failed = await run(['task', failedId ?? '']);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('failed');
  });

  it('exits 2 without a task id', async () => {
    expect((await run(['task'])).code).toBe(2);
  });
});

describe('nano-banana', () => {
  it('lists the commands, and refuses an unknown one', async () => {
    const help = await run(['help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('imagine');
    const unknown = await run(['paint']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "paint"');
  });

  it('runs mock-api until stopped', async () => {
    const controller = new AbortController();
    let announced: (url: string) => void = () => {};
    const listening = new Promise<string>((resolve, reject) => {
      announced = resolve;
      setTimeout(() => reject(new Error('mock-api printed no address in 10 s')), 10_000).unref();
    });
    const running = run(
      ['mock-api', '--port', '0', '--delay', '10'],
      {},
      controller.signal,
      (out) => {
        const url = /http:\/\/127\.0\.0\.1:\d+/.exec(out)?.[0];
        if (url !== undefined) announced(url);
      },
    );
    const url = await listening;
    // It serves while running: a create without the token is refused by the server itself.
    const refused = await fetch(`${url}/nano-banana/images`, { method: 'POST', body: '{}' });
    expect(refused.status).toBe(401);
    await refused.body?.cancel();
    controller.abort();
    const result = await running;
    expect(result.code).toBe(0);
    // And it stops when told to.
    await expect(fetch(`${url}/nano-banana/images`, { method: 'POST' })).rejects.toThrow();
  });

  it('works as an installed command: the built bin makes an image', async () => {
    const out = mkdtempSync(path.join(tmpdir(), 'nb-bin-'));
    const bin = path.resolve('bin/nano-banana.js');
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [bin, 'imagine', 'from the bin', '--out', out],
      {
        env: {
          ...process.env,
          ACEDATA_API_TOKEN: TOKEN,
          ACEDATA_BASE_URL: api.url,
          NANO_BANANA_POLL_INTERVAL_MS: '100',
        },
        timeout: 20_000,
      },
    );
    expect(stdout.trim()).toMatch(/from-the-bin-.*-1\.png$/);
  });
});
