import { readFileSync } from 'node:fs';
import path from 'node:path';
import { drawImage } from '../../src/mock-api/draw.js';

/**
 * A photo-like PNG whose size falls in [minBytes, maxBytes]: what a user shares to be edited.
 * PNG size grows with the pixel count, so each try scales the sides by the square root of how far
 * off the last one was (a few tries at most).
 */
export async function photoOfSize(minBytes: number, maxBytes: number): Promise<Buffer> {
  const target = (minBytes + maxBytes) / 2;
  let side = 2_500;
  for (let attempt = 0; attempt < 6; attempt += 1) {
    const bytes = await drawImage({
      width: side,
      height: Math.round(side * 0.75),
      prompt: '',
      incompressible: false,
      photo: true,
      index: 1,
      count: 1,
    });
    if (bytes.length >= minBytes && bytes.length <= maxBytes) return bytes;
    side = Math.round(side * Math.sqrt(target / bytes.length));
  }
  throw new Error(`no photo between ${minBytes} and ${maxBytes} bytes`);
}

/**
 * The glibc malloc settings the Docker image sets (its `ENV MALLOC_*`), so that the benchmark
 * measures what the image runs.
 */
export function dockerMallocEnv(): Record<string, string> {
  const dockerfile = readFileSync(path.resolve(import.meta.dirname, '../../Dockerfile'), 'utf8');
  return Object.fromEntries(
    [...dockerfile.matchAll(/\b(MALLOC_[A-Z_]+)=(\S+)/g)].map((match) => [
      match[1] ?? '',
      match[2] ?? '',
    ]),
  );
}
