import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/** `NAME=default` lines of .env.example, each under its comment. */
function envExample(): Map<string, string> {
  const settings = new Map<string, string>();
  const lines = readFileSync('.env.example', 'utf8').split('\n');
  for (const [index, line] of lines.entries()) {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match === null) continue;
    expect(lines[index - 1], `${match[1]} has a comment`).toMatch(/^# \S/);
    settings.set(match[1] ?? '', match[2] ?? '');
  }
  return settings;
}

/** The README's settings table: variable and default. */
function readmeTable(): Map<string, string> {
  const readme = readFileSync('README.md', 'utf8');
  const table = readme.slice(
    readme.indexOf('<!-- settings:start -->'),
    readme.indexOf('<!-- settings:end -->'),
  );
  const settings = new Map<string, string>();
  for (const line of table.split('\n')) {
    const match = /^\| `([A-Z][A-Z0-9_]*)` \| (`([^`]*)`)? *\| (.+) \|$/.exec(line);
    if (match === null) continue;
    expect(match[4]?.trim(), `${match[1]} has a meaning`).not.toBe('');
    settings.set(match[1] ?? '', match[3] ?? '');
  }
  return settings;
}

/** Every variable the code reads: the keys of the zod schemas over the environment. */
function variablesInCode(): Set<string> {
  const names = new Set<string>();
  const visit = (folder: string) => {
    for (const entry of readdirSync(folder)) {
      const file = path.join(folder, entry);
      if (statSync(file).isDirectory()) visit(file);
      else if (file.endsWith('.ts')) {
        for (const match of readFileSync(file, 'utf8').matchAll(
          /^\s+((?:ACEDATA|NANO_BANANA|DISCORD|SLACK)_[A-Z0-9_]+|PORT|PUBLIC_URL|METRICS_TOKEN|LOG_LEVEL|DATA_DIR): /gm,
        )) {
          names.add(match[1] ?? '');
        }
      }
    }
  };
  visit('src');
  return names;
}

describe('the settings documentation', () => {
  it('lists the same settings with the same defaults in .env.example and the README', () => {
    const example = envExample();
    const readme = readmeTable();
    expect(example.size).toBeGreaterThan(20);
    expect([...readme.keys()].sort()).toEqual([...example.keys()].sort());
    for (const [name, value] of example) expect(readme.get(name), name).toBe(value);
  });

  it('documents every setting the code reads, and nothing it does not', () => {
    const documented = [...envExample().keys()].sort();
    expect([...variablesInCode()].sort()).toEqual(documented);
  });
});
