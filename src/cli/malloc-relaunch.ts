import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/*
 * glibc's default malloc keeps the memory of large freed blocks (decoded images, inline inputs)
 * in per-thread arenas: 50 concurrent 10 MB edits peak at ~560 MB instead of ~380 MB. These two
 * settings cure it, but glibc reads them only when a process starts, so `nano-banana start`
 * launched without them runs itself again, once, with them. The Docker image sets them already.
 *
 * This module is loaded before anything else of the bot: it imports only Node's own modules, so
 * the first process stays small and the relaunch costs one Node start-up (~50 ms), not two loads
 * of the code.
 */

export const MALLOC_SETTINGS: Readonly<Record<string, string>> = {
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '131072',
};

/** Set in the relaunched process: it never relaunches again, whatever its environment says. */
export const RELAUNCHED_VARIABLE = 'NANO_BANANA_RELAUNCHED';

const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export interface RelaunchCheck {
  readonly env: NodeJS.ProcessEnv;
  readonly platform: NodeJS.Platform;
  /** Whether the C library is glibc; asked only when the answer matters (it takes ~20 ms). */
  readonly usesGlibc: () => boolean;
}

/**
 * The environment to relaunch with, or undefined when this process should run the command
 * itself: not Linux with glibc, both settings already there (the operator's values are never
 * overridden), or already relaunched.
 */
export function relaunchEnvironment(check: RelaunchCheck): NodeJS.ProcessEnv | undefined {
  const { env } = check;
  if (check.platform !== 'linux' || env[RELAUNCHED_VARIABLE] !== undefined) return undefined;
  const missing = Object.keys(MALLOC_SETTINGS).filter(
    (name) => env[name] === undefined || env[name] === '',
  );
  if (missing.length === 0 || !check.usesGlibc()) return undefined;
  const relaunched: NodeJS.ProcessEnv = { ...env, [RELAUNCHED_VARIABLE]: '1' };
  for (const name of missing) relaunched[name] = MALLOC_SETTINGS[name];
  return relaunched;
}

/** glibc reports its version in Node's diagnostic report; musl (Alpine) does not. */
export function usesGlibc(): boolean {
  const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } };
  return typeof report?.header?.glibcVersionRuntime === 'string';
}

/**
 * Runs this very command again in a child with the malloc settings, when they are missing.
 * Returns undefined when this process should run the command itself; otherwise resolves with the
 * child's exit code once it ends. The child shares stdin, stdout and stderr; SIGINT, SIGTERM and
 * SIGHUP sent to this process are passed on; a child killed by a signal kills this process with
 * the same signal, so that whoever started it sees what happened.
 */
export function relaunchWithMallocSettings(
  check: RelaunchCheck = { env: process.env, platform: process.platform, usesGlibc },
): Promise<number> | undefined {
  const env = relaunchEnvironment(check);
  if (env === undefined) return undefined;
  // An IPC channel, unused but for its end: the child stops when this process dies unexpectedly.
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    env,
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  });
  const forward = (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  return new Promise<number>((resolve) => {
    const finish = (code: number) => {
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
      resolve(code);
    };
    child.once('error', (error) => {
      process.stderr.write(`nano-banana: could not relaunch with the malloc settings: ${error}\n`);
      finish(1);
    });
    child.once('exit', (code, signal) => {
      if (signal !== null) {
        for (const forwarded of FORWARDED_SIGNALS) process.off(forwarded, forward);
        process.kill(process.pid, signal);
        finish(128 + (constants.signals[signal] ?? 0));
        return;
      }
      finish(code ?? 1);
    });
  });
}

/**
 * In the relaunched child: stop as on SIGTERM if the launching process goes away (killed with
 * SIGKILL, say), rather than run on unseen. The channel itself must not keep the process alive.
 */
export function stopWithLauncher(): void {
  if (process.env[RELAUNCHED_VARIABLE] === undefined || process.channel === undefined) return;
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
