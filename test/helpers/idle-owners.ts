import type pg from 'pg';

/**
 * Tests of a fleet in one process: which process runs a job is a race between their claims. To
 * make it certain, a test-only trigger in the database refuses to lease any job to the owners
 * named here (their claims and takeovers find nothing), as if those processes were busy. The
 * bot's code is untouched. Call again to name other owners; no owner: every process claims.
 */
export async function keepIdle(client: pg.Client, owners: readonly string[]): Promise<void> {
  await client.query(`
    CREATE TABLE IF NOT EXISTS test_idle_owners (owner text PRIMARY KEY);
    CREATE OR REPLACE FUNCTION test_refuse_idle_owner() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.lease_owner IS DISTINCT FROM OLD.lease_owner
        AND EXISTS (SELECT 1 FROM test_idle_owners WHERE owner = NEW.lease_owner) THEN
        RETURN NULL;
      END IF;
      RETURN NEW;
    END $$;
    DROP TRIGGER IF EXISTS test_refuse_idle_owner ON jobs;
    CREATE TRIGGER test_refuse_idle_owner BEFORE UPDATE ON jobs
      FOR EACH ROW EXECUTE FUNCTION test_refuse_idle_owner();
    DELETE FROM test_idle_owners;`);
  for (const owner of owners) {
    await client.query('INSERT INTO test_idle_owners (owner) VALUES ($1)', [owner]);
  }
}
