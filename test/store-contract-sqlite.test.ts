import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { openSqliteStore } from '../src/core/jobs/stores/sqlite.js';
import { describeStoreContract } from './store-contract.js';

describeStoreContract('SQLite file', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'store-contract-'));
  const path = join(directory, 'jobs.db');
  const store = await openSqliteStore({ path, exclusive: true });
  return {
    store,
    setColumn: async (jobId, column, text) => {
      const raw = new BetterSqlite3(path);
      try {
        raw.prepare(`UPDATE jobs SET ${column} = ? WHERE id = ?`).run(text, jobId);
      } finally {
        raw.close();
      }
    },
    close: async () => {
      await store.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
});

describeStoreContract(
  'SQLite in memory',
  async () => {
    const store = await openSqliteStore({ path: ':memory:' });
    return { store, close: () => store.close() };
  },
  // Nothing else can open a private in-memory database: the file store covers corrupt rows.
  { rowsWritableBehindItsBack: false },
);
