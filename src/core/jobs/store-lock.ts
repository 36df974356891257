import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import BetterSqlite3 from 'better-sqlite3';

/**
 * One bot process per job store. Two processes over one store would both resume the same jobs:
 * the newcomer marks the other's `creating` jobs interrupted (a paid task dropped) and both post
 * the same results. So the process that runs the store holds an exclusive lock on a file beside
 * it for as long as it lives.
 *
 * The lock is SQLite's own: an open `BEGIN EXCLUSIVE` transaction on a small empty database,
 * which SQLite implements with an fcntl lock. The operating system drops it when the process
 * ends, however it ends (SIGKILL, a crash, a power cut), so it never goes stale as a pid file
 * would. It sits on its own file, not on the store, so that tools and tests may still read the
 * store while the bot runs. The holder's pid goes into a text file beside it, only to be named
 * in the refusal.
 */

export class StoreInUseError extends Error {
  override readonly name = 'StoreInUseError';
  /** The store file that is locked. */
  readonly storePath: string;
  /** The process holding it, when it could be read. */
  readonly holderPid: number | undefined;

  constructor(storePath: string, holderPid: number | undefined) {
    super(
      `The job store ${storePath} is in use by another process` +
        (holderPid === undefined ? '' : ` (pid ${holderPid})`),
    );
    this.storePath = storePath;
    this.holderPid = holderPid;
  }
}

export interface StoreLock {
  /** Releases the lock; safe to call twice. */
  release(): void;
}

/**
 * Takes the store's lock at once or throws StoreInUseError: waiting would only delay the
 * refusal, since a running bot keeps its lock until it stops.
 */
export function lockStore(storePath: string): StoreLock {
  const lockPath = `${storePath}.lock`;
  const pidPath = `${storePath}.pid`;
  const database = new BetterSqlite3(lockPath);
  try {
    database.pragma('busy_timeout = 0');
    database.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    database.close();
    if ((error as { code?: string }).code === 'SQLITE_BUSY') {
      throw new StoreInUseError(storePath, readHolderPid(pidPath));
    }
    throw error;
  }
  writeFileSync(pidPath, `${process.pid}\n`);
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      // The pid file goes first: once the lock is free, the next holder writes its own.
      rmSync(pidPath, { force: true });
      database.close();
    },
  };
}

/** The pid in the file, if it names a process that is alive (a stale file names nobody). */
function readHolderPid(pidPath: string): number | undefined {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidPath, 'utf8').trim(), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    // EPERM: alive, but another user's.
    return (error as { code?: string }).code === 'EPERM' ? pid : undefined;
  }
}
