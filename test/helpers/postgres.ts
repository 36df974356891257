import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/**
 * A database of its own for a test file or suite, in the run's PostgreSQL server (started once by
 * test/global-setup.ts), so that files running in parallel never see each other's rows:
 *
 *   let database: FreshDatabase;
 *   beforeAll(async () => { database = await freshDatabase(); });
 *   afterAll(() => database.drop());
 */
export interface FreshDatabase {
  readonly url: string;
  readonly name: string;
  /** Drops the database, cutting any connection a test left open. */
  drop(): Promise<void>;
}

let made = 0;

export async function freshDatabase(
  serverUrl: string = inject('postgresUrl'),
): Promise<FreshDatabase> {
  made += 1;
  const name = `nb_test_${process.pid}_${made}_${randomBytes(3).toString('hex')}`;
  await onMaintenanceDatabase(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      await onMaintenanceDatabase(serverUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
      );
    },
  };
}

async function onMaintenanceDatabase(
  serverUrl: string,
  work: (client: pg.Client) => Promise<unknown>,
): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    await work(client);
  } finally {
    await client.end();
  }
}
