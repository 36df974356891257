#!/usr/bin/env node
// The command is written in TypeScript and built into dist/ by `npm run build` (run by `prepare`,
// so a plain `npm ci` leaves it ready).
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
