#!/usr/bin/env node
// The command is written in TypeScript and built into dist/ by `npm run build` (run by `prepare`,
// so a plain `npm ci` leaves it ready).
import { relaunchWithMallocSettings, stopWithLauncher } from '../dist/cli/malloc-relaunch.js';

const args = process.argv.slice(2);
// `start` runs with glibc's malloc settings for a long-lived process full of large buffers: when
// they are missing it runs itself again with them, once (see malloc-relaunch.ts). Decided before
// the bot's code is loaded, so the launching process stays small.
const relaunched = args[0] === 'start' ? relaunchWithMallocSettings() : undefined;
if (relaunched !== undefined) {
  process.exitCode = await relaunched;
} else {
  stopWithLauncher();
  const { main } = await import('../dist/cli/main.js');
  process.exitCode = await main(args);
  // The command is over: a socket or timer a library failed to close (an adapter whose stop
  // gave up at the end of the shutdown grace) must not keep the process alive past its exit code.
  setTimeout(() => process.exit(), 500).unref();
}
