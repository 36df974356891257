import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabase } from './helpers/postgres.js';
import {
  findPostgresBinaries,
  POSTGRES_INSTALL_COMMAND,
  PostgresMissingError,
  reapStrayServers,
} from './helpers/postgres-server.js';

/** The throwaway PostgreSQL the tests run against (test/helpers/postgres-server.ts). */

async function query<Row extends pg.QueryResultRow>(url: string, text: string): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Row>(text)).rows;
  } finally {
    await client.end();
  }
}

describe('freshDatabase', () => {
  it('gives each caller a database of its own, and drop removes it', async () => {
    const first = await freshDatabase();
    const second = await freshDatabase();
    try {
      expect(first.name).not.toBe(second.name);
      await query(first.url, 'CREATE TABLE notes (text TEXT)');
      await query(first.url, "INSERT INTO notes VALUES ('only in the first')");
      const tables = await query<{ name: string }>(
        second.url,
        "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'",
      );
      expect(tables).toEqual([]);
    } finally {
      // A connection left open does not stop the drop.
      const lingering = new pg.Client({ connectionString: first.url });
      await lingering.connect();
      lingering.on('error', () => undefined);
      await first.drop();
      await second.drop();
    }
    const left = await query<{ name: string }>(
      new URL('/postgres', first.url).toString(),
      `SELECT datname AS name FROM pg_database WHERE datname IN ('${first.name}', '${second.name}')`,
    );
    expect(left).toEqual([]);
  });
});

describe('findPostgresBinaries', () => {
  it('without PostgreSQL installed, fails with the command that installs it', () => {
    const empty = mkdtempSync(path.join(tmpdir(), 'nb-no-postgres-'));
    try {
      let thrown: unknown;
      try {
        findPostgresBinaries({ debianRoot: empty, pathVariable: empty });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(PostgresMissingError);
      expect((thrown as Error).message).toContain(POSTGRES_INSTALL_COMMAND);
      expect(POSTGRES_INSTALL_COMMAND).toMatch(/^apt-get install .*postgresql$/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("finds Debian's binaries, which are not on the PATH", () => {
    const found = findPostgresBinaries({ pathVariable: '' });
    expect(found.folder).toMatch(/^\/usr\/lib\/postgresql\/\d+\/bin$/);
  });
});

describe('reapStrayServers', () => {
  it("stops and removes a dead run's server, and leaves a live run's alone", async () => {
    // Stand-ins for two servers: processes whose command line names their data folder, as a
    // postmaster's does. One run is dead (a process that has exited), the other is this one.
    const exited = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => exited.once('exit', resolve));
    const makeStray = (runnerPid: number) => {
      const folder = mkdtempSync(path.join(tmpdir(), 'nb-postgres-'));
      mkdirSync(path.join(folder, 'data'));
      writeFileSync(path.join(folder, 'runner.pid'), String(runnerPid));
      const server = spawn(
        process.execPath,
        ['-e', 'setInterval(() => {}, 1000)', path.join(folder, 'data')],
        { stdio: 'ignore' },
      );
      writeFileSync(path.join(folder, 'data', 'postmaster.pid'), `${server.pid}\n`);
      return { folder, server };
    };
    const dead = makeStray(exited.pid ?? 0);
    const live = makeStray(process.pid);
    const deadGone = new Promise((resolve) => dead.server.once('exit', resolve));
    try {
      reapStrayServers();
      await deadGone;
      expect(existsSync(dead.folder)).toBe(false);
      expect(live.server.exitCode).toBeNull();
      expect(existsSync(live.folder)).toBe(true);
    } finally {
      dead.server.kill('SIGKILL');
      live.server.kill('SIGKILL');
      rmSync(dead.folder, { recursive: true, force: true });
      rmSync(live.folder, { recursive: true, force: true });
    }
  });
});

describe('a run killed with SIGKILL', () => {
  const started: number[] = [];
  afterAll(() => {
    for (const pid of started) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  });

  it('leaves no server and no folder behind', async () => {
    // A whole vitest run with the real global setup, killed while its server runs: no teardown,
    // no exit hook, only the watchdog's closing pipe.
    const run = spawn(
      process.execPath,
      [
        path.resolve('node_modules/vitest/vitest.mjs'),
        'run',
        '--config',
        'test/fixtures/postgres-sleeper.vitest.config.ts',
      ],
      { stdio: 'ignore' },
    );
    if (run.pid === undefined) throw new Error('vitest did not start');
    started.push(run.pid);
    const runnerPid = String(run.pid);

    // Its server's folder names the run's process; wait (bounded) until the server accepts.
    let folder: string | undefined;
    let serverPid: number | undefined;
    const deadline = Date.now() + 60_000;
    while (serverPid === undefined && Date.now() < deadline) {
      folder ??= readdirSync(tmpdir())
        .filter((name) => name.startsWith('nb-postgres-'))
        .map((name) => path.join(tmpdir(), name))
        .find((candidate) => readText(path.join(candidate, 'runner.pid')) === runnerPid);
      if (folder !== undefined) {
        const status = readText(path.join(folder, 'data', 'postmaster.pid')).split('\n');
        // Line 8 of postmaster.pid is the server's status once it accepts connections.
        if (status[7]?.trim() === 'ready') serverPid = Number(status[0]);
      }
      if (serverPid === undefined) await delay(100);
    }
    if (folder === undefined || serverPid === undefined) throw new Error('no server started');
    expect(isAlive(serverPid)).toBe(true);

    run.kill('SIGKILL');

    const stopDeadline = Date.now() + 30_000;
    while ((isAlive(serverPid) || existsSync(folder)) && Date.now() < stopDeadline) {
      await delay(100);
    }
    expect(isAlive(serverPid)).toBe(false);
    expect(existsSync(folder)).toBe(false);
  }, 120_000);
});

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function delay(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
