// Runs on `npm ci` / `npm install`: builds the command into dist/ when the dev dependencies are
// there. A production install (`npm ci --omit=dev`, as in the Docker image) has no TypeScript and
// takes dist/ from the build stage instead, so it skips this.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  console.log('prepare: TypeScript is not installed (production install); using the built dist/.');
  process.exit(0);
}
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
