import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { environmentSchema as coreSchema } from '../src/core/config.js';
import { environmentSchema as discordSchema } from '../src/discord/settings.js';
import { environmentSchema as slackSchema } from '../src/slack/settings.js';

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
    expect(settings.has(match[1] ?? ''), `${match[1]} is listed once`).toBe(false);
    settings.set(match[1] ?? '', match[3] ?? '');
  }
  return settings;
}

type Field = z.ZodType;

/**
 * The default a setting's schema declares, as the string the environment would hold: found by
 * walking its pipes and optionals down to the `.default(…)`; an optional setting has none ('').
 */
function declaredDefault(field: Field): string {
  let node: z.core.$ZodType | undefined = field;
  // Settings nest a few pipes deep at most; the bound keeps a cyclic schema from hanging the test.
  for (let depth = 0; depth < 10 && node !== undefined; depth += 1) {
    const definition = node._zod.def as {
      type: string;
      defaultValue?: unknown;
      in?: z.core.$ZodType;
      innerType?: z.core.$ZodType;
    };
    if (definition.type === 'default') return String(definition.defaultValue);
    node = definition.in ?? definition.innerType;
  }
  return '';
}

/** Every setting the code reads: the keys of the core's and both adapters' zod schemas. */
function settingsInCode(): Map<string, Field> {
  const fields = new Map<string, Field>();
  for (const schema of [coreSchema, discordSchema, slackSchema]) {
    for (const [name, field] of Object.entries(schema.shape)) {
      expect(fields.has(name), `${name} is read by one schema only`).toBe(false);
      fields.set(name, field as Field);
    }
  }
  return fields;
}

describe('the settings documentation', () => {
  it('lists the same settings with the same defaults in .env.example and the README', () => {
    const example = envExample();
    const readme = readmeTable();
    expect(example.size).toBeGreaterThan(20);
    expect([...readme.keys()].sort()).toEqual([...example.keys()].sort());
    for (const [name, value] of example) expect(readme.get(name), name).toBe(value);
  });

  it('documents every setting of the code’s schemas in the README, and nothing else', () => {
    const inCode = settingsInCode();
    expect([...readmeTable().keys()].sort()).toEqual([...inCode.keys()].sort());
  });

  it('gives each setting in the README the default its schema declares', () => {
    const readme = readmeTable();
    for (const [name, field] of settingsInCode()) {
      expect(readme.get(name), name).toBe(declaredDefault(field));
    }
  });

  it('documents defaults the code accepts, meaning what an unset variable means', () => {
    const readme = readmeTable();
    for (const [name, field] of settingsInCode()) {
      const unset = field.safeParse(undefined);
      expect(unset.error, `${name} unset`).toBeUndefined();
      const documented = field.safeParse(readme.get(name) ?? '');
      expect(documented.error, `${name} as documented`).toBeUndefined();
      expect(documented.data, name).toEqual(unset.data);
    }
  });
});
