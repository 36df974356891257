import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockApi, startMockApi } from '../src/mock-api/index.js';
import { FakeDiscord } from './fakes/discord/index.js';

/**
 * There is no Docker engine on these machines, so this performs the Dockerfile's run stage by
 * hand in a clean folder: the files it copies, a production install from the lockfile (from the
 * npm cache the first install filled), the built output, then the command it runs, until
 * /healthz answers. A broken image (a missing file, a dev dependency needed at run time, a
 * failing install script) fails here. It compiles better-sqlite3 (about 100 s), so it runs in CI
 * (CI=true) or when NANO_BANANA_DOCKER_TEST=1.
 */
const enabled = process.env.CI === 'true' || process.env.NANO_BANANA_DOCKER_TEST === '1';
const TOKEN = 'docker-steps-token';

let api: MockApi;
let fake: FakeDiscord;
beforeAll(async () => {
  if (!enabled) return;
  api = await startMockApi({ token: TOKEN, delayMs: 50 });
  fake = await FakeDiscord.start();
});
afterAll(async () => {
  await fake?.close();
  await api?.close();
});

describe.runIf(enabled)('the Docker image, step by step', () => {
  it('installs for production from the lockfile, starts, and answers /healthz', {
    timeout: 600_000,
  }, async () => {
    const dockerfile = readFileSync('Dockerfile', 'utf8');
    // What the run stage copies from the context, and the install it runs.
    expect(dockerfile).toMatch(/COPY package\.json package-lock\.json \.\//);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/COPY --from=build \/app\/dist \.\/dist/);
    expect(dockerfile).toMatch(/CMD \["node", "bin\/nano-banana\.js", "start"\]/);
    expect(dockerfile).toMatch(/HEALTHCHECK .*\n.*\/healthz/);

    const app = mkdtempSync(path.join(tmpdir(), 'nb-image-'));
    for (const entry of ['package.json', 'package-lock.json', 'bin', 'scripts'])
      cpSync(entry, path.join(app, entry), { recursive: true });
    await promisify(execFile)(
      'npm',
      ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'],
      {
        cwd: app,
        timeout: 540_000,
        env: { ...process.env, NODE_ENV: 'production' },
      },
    );
    cpSync('dist', path.join(app, 'dist'), { recursive: true });

    const port = await freePort();
    const child = spawn(process.execPath, ['bin/nano-banana.js', 'start'], {
      cwd: app,
      env: {
        PATH: process.env.PATH,
        NODE_ENV: 'production',
        DATA_DIR: path.join(app, 'data'),
        PORT: String(port),
        ACEDATA_API_TOKEN: TOKEN,
        ACEDATA_BASE_URL: api.url,
        DISCORD_TOKEN: fake.botToken,
        DISCORD_API_URL: fake.apiUrl,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += String(chunk);
    });
    try {
      const deadline = Date.now() + 30_000;
      let status = 0;
      while (status !== 200 && Date.now() < deadline && child.exitCode === null) {
        status = await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (response) => response.status,
          () => 0,
        );
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(status, stderr).toBe(200);
    } finally {
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code, stderr).toBe(0);
    }
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 0;
}
