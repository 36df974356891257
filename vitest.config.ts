import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // Component and end-to-end tests start local servers; give them room on a 2-core machine.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // One throwaway PostgreSQL server for the run (fails, naming the package, when not installed).
    globalSetup: ['test/global-setup.ts'],
  },
});
