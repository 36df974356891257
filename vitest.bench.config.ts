import { defineConfig } from 'vitest/config';

/**
 * `npm run bench`: the benchmarks of issue 6, one file at a time so that they do not disturb each
 * other, each in its own process. They print tables and fail only when what they measure did not
 * happen (a result never delivered), never because the machine is slow. `npm test` does not run
 * them (vitest.config.ts includes test/ only).
 */
export default defineConfig({
  test: {
    include: ['bench/**/*.bench.test.ts'],
    environment: 'node',
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 240_000,
    hookTimeout: 60_000,
    // The second: the throwaway PostgreSQL the fleet benchmarks run over (test/global-setup.ts).
    globalSetup: ['bench/support/global-setup.ts', 'test/global-setup.ts'],
    // The fakes and the mock API keep every request they saw, 10 MB images included.
    execArgv: ['--max-old-space-size=6144'],
  },
});
