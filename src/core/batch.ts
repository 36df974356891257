/**
 * Batches: one command that makes several jobs. `{red, blue} bird` is one job per alternative
 * (groups multiply: `{a, b} {c, d}` makes four), `--repeat 3` runs the whole lot three times.
 * Every chat front end (Discord's command and mentions, Slack's command and mentions) expands
 * its prompt here, so the limits and the wording of a refusal are the same everywhere.
 *
 * Groups nest (`{a {big, small} dog, a cat}`). A backslash makes the next `{`, `}`, `,` or `\`
 * a plain character (`\{curly\}` stays `{curly}`); an opening brace never closed, or a closing
 * one never opened, is plain text too, so that a prompt that was never meant as a batch is not
 * refused for its punctuation.
 */

import { invalidInput } from './errors.js';

/** The most jobs one command may make: a slip of the finger must not queue dozens of paid jobs. */
export const MAX_BATCH_JOBS = 8;
export const MIN_REPEAT = 1;
export const MAX_REPEAT = 4;

/** Groups nest at most this deep; braces deeper than that are plain text. */
const MAX_NESTING = 8;

/** A stretch of prompt: plain text, or a group of alternatives, each itself a sequence. */
type Part = { readonly text: string } | { readonly alternatives: readonly Part[][] };

/**
 * The prompts `prompt` stands for, in order (the first group's first alternative first), each
 * repeated `repeat` times in a row. Throws `invalid_input` `too_many_jobs` (with `count`, the
 * jobs it would make, and `max`) past `MAX_BATCH_JOBS`, before anything is built.
 */
export function expandBatch(prompt: string, repeat = 1): string[] {
  const parts = parse(prompt);
  const hasGroups = parts.some((part) => 'alternatives' in part);
  const count = countOf(parts) * repeat;
  if (count > MAX_BATCH_JOBS) {
    throw invalidInput(
      'too_many_jobs',
      `This would make ${count} jobs; at most ${MAX_BATCH_JOBS} per command`,
      { count: Number.isFinite(count) ? count : Number.MAX_SAFE_INTEGER, max: MAX_BATCH_JOBS },
    );
  }
  const variants = expand(parts).map((text) => (hasGroups ? tidy(text) : text));
  return variants.flatMap((variant) => Array.from({ length: repeat }, () => variant));
}

/**
 * The dedup key of a batch's i-th job: the platform event's own key for a single job (so a batch
 * of one is exactly the request of before), `<key>:<i>` for each job of a larger batch.
 */
export function batchDedupKey(
  eventKey: string | undefined,
  index: number,
  size: number,
): string | undefined {
  if (eventKey === undefined || size <= 1) return eventKey;
  return `${eventKey}:${index}`;
}

function parse(prompt: string): Part[] {
  const closing = matchingBraces(prompt);
  const reader: Reader = { text: prompt, at: 0, closing, closers: new Set(closing.values()) };
  return parseSequence(reader, false);
}

interface Reader {
  readonly text: string;
  at: number;
  /** Where each opening brace that is closed is closed: the others are plain text. */
  readonly closing: ReadonlyMap<number, number>;
  readonly closers: ReadonlySet<number>;
}

/**
 * Pairs the braces in one pass (escaped ones skipped), so that parsing never has to try a group
 * and back out of it: a prompt full of stray braces costs linear time, not exponential.
 */
function matchingBraces(text: string): Map<number, number> {
  const closing = new Map<number, number>();
  const open: number[] = [];
  for (let at = 0; at < text.length; at++) {
    const character = text[at];
    if (character === '\\' && '{},\\'.includes(text[at + 1] ?? '')) at += 1;
    else if (character === '{') open.push(at);
    else if (character === '}' && open.length > 0) {
      const opened = open.pop() ?? 0;
      // Deeper than anyone writes a batch: plain text, and no recursion as deep as the prompt.
      if (open.length < MAX_NESTING) closing.set(opened, at);
    }
  }
  return closing;
}

/**
 * Reads parts until the end of the text or, inside a group, until the `,` or `}` that ends the
 * alternative (left for the caller to consume).
 */
function parseSequence(reader: Reader, inGroup: boolean): Part[] {
  const parts: Part[] = [];
  let text = '';
  while (reader.at < reader.text.length) {
    const character = reader.text[reader.at] ?? '';
    if (character === '\\' && '{},\\'.includes(reader.text[reader.at + 1] ?? '')) {
      text += reader.text[reader.at + 1];
      reader.at += 2;
      continue;
    }
    if (inGroup && (character === ',' || (character === '}' && reader.closers.has(reader.at))))
      break;
    if (character === '{' && reader.closing.has(reader.at)) {
      reader.at += 1;
      const alternatives: Part[][] = [];
      for (;;) {
        alternatives.push(parseSequence(reader, true));
        const end = reader.text[reader.at];
        reader.at += 1;
        if (end !== ',') break;
      }
      if (text !== '') parts.push({ text });
      text = '';
      parts.push({ alternatives });
      continue;
    }
    text += character;
    reader.at += 1;
  }
  if (text !== '') parts.push({ text });
  return parts;
}

function countOf(parts: readonly Part[]): number {
  let count = 1;
  for (const part of parts) {
    if ('alternatives' in part) {
      count *= part.alternatives.reduce((sum, alternative) => sum + countOf(alternative), 0);
    }
    // Already too many: the exact figure of a runaway product is of no use to anyone.
    if (count > Number.MAX_SAFE_INTEGER) return Number.POSITIVE_INFINITY;
  }
  return count;
}

function expand(parts: readonly Part[]): string[] {
  let results = [''];
  for (const part of parts) {
    if ('text' in part) {
      results = results.map((result) => result + part.text);
      continue;
    }
    const options = part.alternatives.flatMap((alternative) =>
      expand(alternative).map((option) => option.trim()),
    );
    results = results.flatMap((result) => options.map((option) => result + option));
  }
  return results;
}

/** The spaces left around an empty or trimmed alternative (`a {big,} dog`) become one. */
function tidy(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/[ \t]{2,}/g, ' ').trim())
    .join('\n')
    .trim();
}

/**
 * The requests of a batch: the draft once per prompt, each with its own dedup key
 * (`batchDedupKey`). One prompt gives the draft back as it was.
 */
export function batchRequests<
  T extends { readonly prompt: string; readonly dedupKey?: string | undefined },
>(draft: T, prompts: readonly string[]): T[] {
  return prompts.map((prompt, index) => ({
    ...draft,
    prompt,
    dedupKey: batchDedupKey(draft.dedupKey, index, prompts.length),
  }));
}
