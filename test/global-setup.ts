import type { TestProject } from 'vitest/node';
import { startPostgres } from './helpers/postgres-server.js';

/**
 * One throwaway PostgreSQL server for the whole run (test/helpers/postgres-server.ts); each test
 * file makes its own database in it (`freshDatabase`, test/helpers/postgres.ts). Without
 * PostgreSQL installed the run fails here, naming the package to install: no PostgreSQL test is
 * ever skipped.
 */
export default async function setup(project: TestProject) {
  const server = await startPostgres();
  project.provide('postgresUrl', server.url);
  project.provide('postgresCertificateFile', server.certificateFile);
  return () => server.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** The test server's maintenance database: make one of your own with `freshDatabase()`. */
    postgresUrl: string;
    /** Its self-signed certificate, for `sslmode=verify-full&sslrootcert=...`. */
    postgresCertificateFile: string;
  }
}
