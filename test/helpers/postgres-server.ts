import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

/**
 * A throwaway PostgreSQL server for the tests: Debian's `postgresql` package's binaries, a cluster
 * made in a temporary folder, listening on a free loopback port, removed when it stops. One server
 * serves the whole run (test/global-setup.ts); each test file makes its own database in it
 * (test/helpers/postgres.ts).
 *
 * The server must not outlive the run, even a run killed with SIGKILL: it runs under a small shell
 * watchdog whose standard input is a pipe from this process. The pipe closes when this process ends,
 * however it ends, and the watchdog then stops the server and removes its folder. A folder left by
 * a run whose watchdog was killed too is reaped at the next start (see `reapStrayServers`).
 */

export const POSTGRES_INSTALL_COMMAND = 'apt-get install -y postgresql';

export interface PostgresBinaries {
  readonly folder: string;
  readonly initdb: string;
  readonly postgres: string;
}

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`: trust authentication, loopback only. */
  readonly url: string;
  /** The server's self-signed certificate, for tests of `sslmode=verify-full&sslrootcert=...`. */
  readonly certificateFile: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** The tests cannot run without it: the message says what to install. */
export class PostgresMissingError extends Error {
  override readonly name = 'PostgresMissingError';
}

const FOLDER_PREFIX = 'nb-postgres-';
/** How long the server may take to accept connections (initdb excluded), on a loaded machine. */
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
/** A port taken between our probe and the server's bind is retried on another. */
const PORT_ATTEMPTS = 5;
/** A stray folder is reaped only past this age when it does not say whose it is. */
const STRAY_GRACE_MS = 10 * 60_000;

/** Debian's layout (`/usr/lib/postgresql/<version>/bin`), newest version first, then the PATH. */
export function findPostgresBinaries(
  where: { readonly debianRoot?: string; readonly pathVariable?: string } = {},
): PostgresBinaries {
  const candidates: string[] = [];
  const debianRoot = where.debianRoot ?? '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot)
      .filter((name) => /^\d+(\.\d+)?$/.test(name))
      .sort((left, right) => Number(right) - Number(left));
    candidates.push(...versions.map((version) => path.join(debianRoot, version, 'bin')));
  }
  candidates.push(
    ...(where.pathVariable ?? process.env.PATH ?? '')
      .split(path.delimiter)
      .filter((entry) => entry !== ''),
  );
  for (const folder of candidates) {
    const initdb = path.join(folder, 'initdb');
    const postgres = path.join(folder, 'postgres');
    if (existsSync(initdb) && existsSync(postgres)) return { folder, initdb, postgres };
  }
  throw new PostgresMissingError(
    'PostgreSQL is not installed, and the tests need a real server (the PostgreSQL job store runs ' +
      'its contract suite against one; no test is skipped without it). Install it with ' +
      `\`${POSTGRES_INSTALL_COMMAND}\` (as root; \`sudo ${POSTGRES_INSTALL_COMMAND}\` otherwise); ` +
      'the tests look for initdb and postgres under /usr/lib/postgresql/<version>/bin, then on the PATH.',
  );
}

/** Starts a server; throws PostgresMissingError when PostgreSQL is not installed. */
export async function startPostgres(): Promise<PostgresServer> {
  const binaries = findPostgresBinaries();
  reapStrayServers();
  // PostgreSQL refuses to run as root: as root (CI, this machine), it runs as the `postgres` user
  // the package creates, in a folder that user owns.
  const runAs = process.getuid?.() === 0 ? postgresUser() : undefined;
  const folder = mkdtempSync(path.join(tmpdir(), FOLDER_PREFIX));
  try {
    writeFileSync(path.join(folder, 'runner.pid'), String(process.pid));
    const dataFolder = path.join(folder, 'data');
    const socketFolder = path.join(folder, 'socket');
    mkdirSync(socketFolder);
    const certificateFile = path.join(folder, 'server.crt');
    const keyFile = path.join(folder, 'server.key');
    makeCertificate(certificateFile, keyFile);
    if (runAs !== undefined) {
      for (const file of [folder, socketFolder, certificateFile, keyFile]) {
        chownSync(file, runAs.uid, runAs.gid);
      }
    }
    run(runAs, binaries.initdb, [
      '--pgdata',
      dataFolder,
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C',
      '--username=postgres',
      // A throwaway cluster: nothing to make durable.
      '--no-sync',
    ]);
    let lastError: unknown;
    for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt += 1) {
      const port = await freeLoopbackPort();
      try {
        return await launch({
          binaries,
          runAs,
          folder,
          dataFolder,
          socketFolder,
          certificateFile,
          keyFile,
          port,
          attempt,
        });
      } catch (error) {
        lastError = error;
        if (!(error instanceof PortTakenError)) break;
      }
    }
    throw lastError;
  } catch (error) {
    rmSync(folder, { recursive: true, force: true });
    throw error;
  }
}

class PortTakenError extends Error {}

interface LaunchOptions {
  readonly binaries: PostgresBinaries;
  readonly runAs: { uid: number; gid: number } | undefined;
  readonly folder: string;
  readonly dataFolder: string;
  readonly socketFolder: string;
  readonly certificateFile: string;
  readonly keyFile: string;
  readonly port: number;
  readonly attempt: number;
}

/**
 * The watchdog: starts the server in the background, and when its standard input (our pipe)
 * closes, stops it (fast shutdown: open connections are cut) and removes the folder. A server that
 * stops on its own (a port taken at start) leaves the folder to the run: its log says why, and the
 * cluster serves the next attempt. Asynchronous commands of a non-interactive shell read
 * /dev/null, hence the copy of stdin on fd 3.
 */
const WATCHDOG = `
folder=$1; stopping=$2; shift 2
exec 3<&0
"$@" &
server=$!
{ cat <&3 >/dev/null; touch "$stopping"; kill -INT "$server" 2>/dev/null; } &
wait "$server"
status=$?
if [ -e "$stopping" ]; then rm -rf -- "$folder"; fi
exit $status
`;

async function launch(options: LaunchOptions): Promise<PostgresServer> {
  const logFile = path.join(options.folder, `server-${options.attempt}.log`);
  const log = openSync(logFile, 'a');
  const serverArguments = [
    '-D',
    options.dataFolder,
    '-p',
    String(options.port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `unix_socket_directories=${options.socketFolder}`,
    // Tests only: durability is not what they check, and a power cut loses a temporary folder.
    '-c',
    'fsync=off',
    '-c',
    'full_page_writes=off',
    // Every test file opens pools, and the contract suite races 20 clients.
    '-c',
    'max_connections=300',
    '-c',
    'shared_buffers=32MB',
    '-c',
    'max_parallel_workers_per_gather=0',
    '-c',
    'ssl=on',
    '-c',
    `ssl_cert_file=${options.certificateFile}`,
    '-c',
    `ssl_key_file=${options.keyFile}`,
  ];
  const command = [
    'sh',
    '-c',
    WATCHDOG,
    'postgres-watchdog',
    options.folder,
    // One marker per attempt: a failed attempt's must not make the next one's watchdog remove
    // the folder.
    path.join(options.folder, `stopping-${options.attempt}`),
    options.binaries.postgres,
    ...serverArguments,
  ];
  const [file, ...fileArguments] =
    options.runAs === undefined ? command : ['runuser', '-u', 'postgres', '--', ...command];
  let child: ChildProcess;
  try {
    child = spawn(file as string, fileArguments, { stdio: ['pipe', log, log] });
  } finally {
    closeSync(log);
  }
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
  });
  // The run's end must not wait for the watchdog: stop() or the process's exit ends it.
  child.unref();
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  const url = `postgres://postgres@127.0.0.1:${options.port}/postgres`;
  /** Stops the server (and its watchdog); the folder stays, for the caller to remove or reuse. */
  const halt = async (): Promise<void> => {
    child.stdin?.end();
    let timer: NodeJS.Timeout | undefined;
    const stopped = await Promise.race([
      exited.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), STOP_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (!stopped) {
      // Immediate shutdown of a server that ignored the fast one.
      signalServer(options.dataFolder, 'SIGQUIT');
      child.kill('SIGKILL');
    }
  };
  // A run that ends without calling stop (an uncaught error in vitest) still stops the server
  // at once; the closing pipe would too, a moment later.
  const onExit = () => signalServer(options.dataFolder, 'SIGINT');
  process.once('exit', onExit);
  try {
    await waitUntilReady(url, exited, logFile);
  } catch (error) {
    process.removeListener('exit', onExit);
    await halt().catch(() => undefined);
    throw error;
  }
  return {
    url,
    port: options.port,
    certificateFile: options.certificateFile,
    stop: async () => {
      process.removeListener('exit', onExit);
      await halt();
      rmSync(options.folder, { recursive: true, force: true });
    },
  };
}

async function waitUntilReady(
  url: string,
  exited: Promise<number | null>,
  logFile: string,
): Promise<void> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (gone) {
      const text = readLog(logFile);
      if (/could not bind|address already in use/i.test(text)) {
        throw new PortTakenError(`PostgreSQL could not bind its port: ${text}`);
      }
      throw new Error(`PostgreSQL stopped while starting:\n${text}`);
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (error) {
      lastError = error;
      await client.end().catch(() => undefined);
    }
    await delay(100);
  }
  throw new Error(
    `PostgreSQL did not accept connections within ${READY_TIMEOUT_MS} ms ` +
      `(last error: ${String(lastError)}):\n${readLog(logFile)}`,
  );
}

/**
 * Servers of earlier runs whose process died and whose watchdog died with it (a killed process
 * group): stopped and removed. A folder whose runner is alive belongs to a run in progress (another
 * worktree's, say) and is left alone. Only a process whose command line names the folder's data
 * directory is signalled, so a recycled process id is never hit.
 */
export function reapStrayServers(): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(FOLDER_PREFIX)) continue;
    const folder = path.join(tmpdir(), name);
    const runnerText = readText(path.join(folder, 'runner.pid'));
    // A folder without its runner yet may be another run's, being made this very moment.
    if (runnerText === '' && Date.now() - modifiedAt(folder) < STRAY_GRACE_MS) continue;
    const runner = Number(runnerText);
    if (Number.isInteger(runner) && runner > 0 && isAlive(runner)) continue;
    signalServer(path.join(folder, 'data'), 'SIGQUIT');
    rmSync(folder, { recursive: true, force: true });
  }
}

function signalServer(dataFolder: string, signal: NodeJS.Signals): void {
  const pid = Number(readText(path.join(dataFolder, 'postmaster.pid')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  const commandLine = readText(`/proc/${pid}/cmdline`).replaceAll('\0', ' ');
  if (!commandLine.includes(dataFolder)) return;
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function modifiedAt(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function readLog(logFile: string): string {
  return readText(logFile).split('\n').slice(-20).join('\n');
}

function postgresUser(): { uid: number; gid: number } {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch (error) {
    throw new PostgresMissingError(
      `The \`postgres\` user does not exist (PostgreSQL refuses to run as root, and Debian's ` +
        `package creates that user): install it with \`${POSTGRES_INSTALL_COMMAND}\`.`,
      { cause: error },
    );
  }
}

function run(
  runAs: { uid: number; gid: number } | undefined,
  file: string,
  fileArguments: string[],
): void {
  const [command, ...commandArguments] =
    runAs === undefined
      ? [file, ...fileArguments]
      : ['runuser', '-u', 'postgres', '--', file, ...fileArguments];
  try {
    execFileSync(command as string, commandArguments, { stdio: 'pipe', encoding: 'utf8' });
  } catch (error) {
    const failure = error as { stderr?: string; stdout?: string };
    throw new Error(
      `${path.basename(file)} failed: ${failure.stderr ?? ''}${failure.stdout ?? ''}`.trim(),
      { cause: error },
    );
  }
}

/**
 * A self-signed certificate for 127.0.0.1 and localhost, so that the store's TLS (from the URL's
 * `sslmode`) is tested against a real handshake. An EC key: generated in milliseconds.
 */
function makeCertificate(certificateFile: string, keyFile: string): void {
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        keyFile,
        '-out',
        certificateFile,
        '-days',
        '2',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
      ],
      { stdio: 'pipe' },
    );
  } catch (error) {
    throw new PostgresMissingError(
      `openssl could not make the test server's certificate (it comes with \`${POSTGRES_INSTALL_COMMAND}\`)`,
      { cause: error },
    );
  }
  // PostgreSQL refuses a key that others can read.
  chmodSync(keyFile, 0o600);
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function delay(milliseconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, milliseconds));
}
