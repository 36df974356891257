import { describe, expect, it } from 'vitest';
import {
  batchDedupKey,
  batchRequests,
  expandBatch,
  isNanoBananaError,
  isoWeekStart,
  MAX_BATCH_JOBS,
  parsePromptFlags,
  translate,
} from '../src/core/index.js';
import { createModelCatalog } from '../src/core/models.js';

/** The refusal `expandBatch` throws, or undefined when it expands. */
function refusal(prompt: string, repeat = 1) {
  try {
    expandBatch(prompt, repeat);
    return undefined;
  } catch (error) {
    if (!isNanoBananaError(error)) throw error;
    return { reason: error.params.reason, count: error.params.count, max: error.params.max };
  }
}

describe('expandBatch', () => {
  it('leaves a prompt without groups as it is, once', () => {
    expect(expandBatch('a  white cat, on a mat')).toEqual(['a  white cat, on a mat']);
  });

  it('makes one prompt per alternative, in order, trimming each', () => {
    expect(expandBatch('{red, blue} bird')).toEqual(['red bird', 'blue bird']);
    expect(expandBatch('a { red ,blue ,  green } bird')).toEqual([
      'a red bird',
      'a blue bird',
      'a green bird',
    ]);
  });

  it('multiplies several groups, the first group varying slowest', () => {
    expect(expandBatch('{a, b} {c, d}')).toEqual(['a c', 'a d', 'b c', 'b d']);
  });

  it('expands nested groups', () => {
    expect(expandBatch('{a {big, small} dog, a cat}')).toEqual([
      'a big dog',
      'a small dog',
      'a cat',
    ]);
  });

  it('tidies the spaces an empty alternative leaves', () => {
    expect(expandBatch('a {big,} dog')).toEqual(['a big dog', 'a dog']);
    expect(expandBatch('{sunny,}\n{day, night} sky')).toEqual([
      'sunny\nday sky',
      'sunny\nnight sky',
      'day sky',
      'night sky',
    ]);
  });

  it('repeats each prompt, in a row', () => {
    expect(expandBatch('{red, blue} bird', 2)).toEqual([
      'red bird',
      'red bird',
      'blue bird',
      'blue bird',
    ]);
    expect(expandBatch('a cat', 4)).toEqual(['a cat', 'a cat', 'a cat', 'a cat']);
  });

  it('keeps escaped braces and commas as plain characters', () => {
    expect(expandBatch('a sign reading \\{hello\\}')).toEqual(['a sign reading {hello}']);
    expect(expandBatch('{salt\\, pepper, oil} on a table')).toEqual([
      'salt, pepper on a table',
      'oil on a table',
    ]);
    expect(expandBatch('a back\\\\slash')).toEqual(['a back\\slash']);
    // A backslash before anything else stays.
    expect(expandBatch('C:\\path {a, b}')).toEqual(['C:\\path a', 'C:\\path b']);
  });

  it('reads a brace never closed, or never opened, as plain text', () => {
    expect(expandBatch('a smiley :} and {a, b')).toEqual(['a smiley :} and {a, b']);
    expect(expandBatch('{ {a, b}')).toEqual(['{ a', '{ b']);
  });

  it('refuses more than 8 jobs, saying how many it would make', () => {
    expect(MAX_BATCH_JOBS).toBe(8);
    expect(expandBatch('{a, b} {c, d} {e, f}')).toHaveLength(8);
    expect(refusal('{a, b, c} {d, e, f}')).toEqual({ reason: 'too_many_jobs', count: 9, max: 8 });
    expect(refusal('{a, b, c}', 3)).toEqual({ reason: 'too_many_jobs', count: 9, max: 8 });
    expect(expandBatch('{a, b}', 4)).toHaveLength(8);
    expect(refusal('{a, b}', 4)).toBeUndefined();
  });

  it('refuses a runaway product before building anything', () => {
    const prompt = '{a, b} '.repeat(200);
    const started = performance.now();
    expect(refusal(prompt)?.reason).toBe('too_many_jobs');
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('reads a prompt full of stray braces in linear time', () => {
    const started = performance.now();
    expect(expandBatch('{'.repeat(4000))).toEqual(['{'.repeat(4000)]);
    // Only the eight outermost pairs are groups; deeper braces are plain text.
    expect(expandBatch('{'.repeat(2000) + '}'.repeat(2000))).toEqual([
      '{'.repeat(1992) + '}'.repeat(1992),
    ]);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('says in English and French how many jobs a refused batch would make', () => {
    const params = { reason: 'too_many_jobs', count: 9, max: 8 };
    expect(translate('en', 'input.too_many_jobs', params)).toMatch(/9 jobs.*at most 8/);
    expect(translate('fr', 'input.too_many_jobs', params)).toMatch(/9 tâches.*8 au maximum/);
  });
});

describe('batch requests', () => {
  it('gives each job of a batch its own dedup key, and a single job the event’s', () => {
    expect(batchDedupKey('slack:cmd:1', 0, 1)).toBe('slack:cmd:1');
    expect(batchDedupKey('slack:cmd:1', 3, 4)).toBe('slack:cmd:1:3');
    expect(batchDedupKey(undefined, 3, 4)).toBeUndefined();
    const drafts = batchRequests({ prompt: 'x', dedupKey: 'k', other: 1 }, ['a', 'b']);
    expect(drafts).toEqual([
      { prompt: 'a', dedupKey: 'k:0', other: 1 },
      { prompt: 'b', dedupKey: 'k:1', other: 1 },
    ]);
  });
});

describe('--repeat and --history', () => {
  const catalog = createModelCatalog();

  it('are flags; a repeat outside 1 to 4 is refused', () => {
    expect(() => parsePromptFlags('a cat --repeat 5', catalog)).toThrow(/Repeat must be/);
    expect(() => parsePromptFlags('a cat --repeat 0', catalog)).toThrow(/Repeat must be/);
    expect(parsePromptFlags('a cat --repeat 3', catalog)).toMatchObject({
      prompt: 'a cat',
      repeat: 3,
    });
    expect(parsePromptFlags('--history', catalog)).toMatchObject({ history: true });
  });
});

describe('isoWeekStart', () => {
  it('is the Monday of the day’s ISO week, in UTC', () => {
    // 2026-12-06 is a Sunday: its week began on Monday 2026-11-30.
    expect(isoWeekStart('2026-12-06')).toBe('2026-11-30');
    expect(isoWeekStart('2026-11-30')).toBe('2026-11-30');
    expect(isoWeekStart('2026-12-01')).toBe('2026-11-30');
    expect(isoWeekStart('2026-12-07')).toBe('2026-12-07');
    // Across a year: Friday 2027-01-01 is in the week of Monday 2026-12-28.
    expect(isoWeekStart('2027-01-01')).toBe('2026-12-28');
    expect(() => isoWeekStart('not a day')).toThrow(RangeError);
  });
});
