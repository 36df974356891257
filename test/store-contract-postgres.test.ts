import pg from 'pg';
import type { JobStore } from '../src/core/jobs/store.js';
import { openPostgresStore } from '../src/core/jobs/stores/postgres.js';
import { freshDatabase } from './helpers/postgres.js';
import { describeStoreContract } from './store-contract.js';

/**
 * The JobStore contract on a real PostgreSQL (the run's throwaway server): a database of its own
 * for each test, and the races run across separate pools, as across processes.
 */
describeStoreContract('PostgreSQL', async () => {
  const database = await freshDatabase();
  const store = await openPostgresStore({ url: database.url });
  const others: JobStore[] = [];
  return {
    store,
    another: async () => {
      const other = await openPostgresStore({ url: database.url, poolSize: 2 });
      others.push(other);
      return other;
    },
    setColumn: async (jobId, column, text) => {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        await client.query(
          `UPDATE jobs SET ${client.escapeIdentifier(column)} = $1 WHERE id = $2`,
          [text, jobId],
        );
      } finally {
        await client.end();
      }
    },
    close: async () => {
      for (const other of others.splice(0)) await other.close();
      await store.close();
      await database.drop();
    },
  };
});
