import path from 'node:path';
import type { Config } from '../core/config.js';
import type { JobStore } from '../core/jobs/store.js';
import { openPostgresStore } from '../core/jobs/stores/postgres.js';
import { openSqliteStore } from '../core/jobs/stores/sqlite.js';
import type { Logger } from '../core/logger.js';

/**
 * The job store this process runs on: the PostgreSQL database of `DATABASE_URL`, shared with every
 * other process of the fleet, or else the embedded SQLite file in `DATA_DIR`, held by this
 * process alone (a second process over it is refused at once).
 */
export async function openJobStore(config: Config, logger: Logger): Promise<JobStore> {
  if (config.databaseUrl !== undefined) {
    return openPostgresStore({
      url: config.databaseUrl,
      logger: logger.child({ component: 'store' }),
    });
  }
  return openSqliteStore({ path: path.join(config.dataDir, 'jobs.db'), exclusive: true });
}
