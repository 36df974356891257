/**
 * The one parser for the flags users type after a prompt (`a white cat --ar 16:9 --model pro`),
 * shared by the chat adapters and the command line. It resolves values against the model table
 * but leaves cross-checks (a model's resolutions, the prompt length) to `validateRequest`.
 */

import { MAX_REPEAT, MIN_REPEAT } from './batch.js';
import { invalidInput, type NanoBananaError } from './errors.js';
import {
  ASPECT_RATIOS,
  type AspectRatio,
  isAspectRatio,
  isResolution,
  MAX_COUNT,
  MIN_COUNT,
  type ModelCatalog,
  RESOLUTIONS,
  type Resolution,
} from './models.js';
import {
  type ImageAction,
  type ImageRequest,
  type RequestLimits,
  validateRequest,
} from './request.js';

export interface ParsedPrompt {
  /** The text with the flags removed; empty when the user typed only flags. */
  prompt: string;
  /** The resolved model id (aliases such as `pro` already looked up in the catalog). */
  model?: string;
  aspectRatio?: AspectRatio;
  resolution?: Resolution;
  count?: number;
  /** `--repeat N`: the whole request N times (see `batch.ts`). */
  repeat?: number;
  /** A saved style to add to the prompt (`--style cinematic`), lower-cased as names are stored. */
  style?: string;
  /** `--blend`: the images given (2 to 5) are blended into one, in one edit; absent otherwise. */
  blend?: boolean;
  help: boolean;
  usage: boolean;
  /** `--history`: the user's last jobs, not a request. */
  history: boolean;
  /** `--prefer` (Slack): the rest of the text is a preferences command, not a prompt; set only when typed. */
  prefer?: boolean;
  /** `--settings`: a moderator's view of the server's (workspace's) settings, not a request. */
  settings?: boolean;
}

/** The canonical flags, for help texts and for the `valid` list of an unknown flag. */
export const FLAG_NAMES: readonly string[] = [
  '--model',
  '--ar',
  '--res',
  '--count',
  '--repeat',
  '--style',
  '--blend',
  '--help',
  '--usage',
  '--history',
  '--prefer',
  '--settings',
];

type FlagKind =
  | 'model'
  | 'aspectRatio'
  | 'resolution'
  | 'count'
  | 'repeat'
  | 'style'
  | 'blend'
  | 'help'
  | 'usage'
  | 'history'
  | 'prefer'
  | 'settings';

/** Flags that take no value: present or not (`--help=yes` means nothing more than `--help`). */
type SwitchKind = Extract<FlagKind, 'blend' | 'help' | 'usage' | 'history' | 'prefer' | 'settings'>;

const FLAG_KINDS: ReadonlyMap<string, FlagKind> = new Map<string, FlagKind>([
  ['model', 'model'],
  ['m', 'model'],
  ['ar', 'aspectRatio'],
  ['aspect', 'aspectRatio'],
  ['aspect-ratio', 'aspectRatio'],
  ['aspect_ratio', 'aspectRatio'],
  ['res', 'resolution'],
  ['resolution', 'resolution'],
  ['count', 'count'],
  ['n', 'count'],
  ['repeat', 'repeat'],
  ['style', 'style'],
  ['blend', 'blend'],
  ['help', 'help'],
  ['usage', 'usage'],
  ['history', 'history'],
  ['prefer', 'prefer'],
  ['preferences', 'prefer'],
  ['settings', 'settings'],
]);

/**
 * A whole whitespace-free token that is a flag: `--name` or `--name=value`. Phones turn `--` into
 * an em or en dash, sometimes followed by the second hyphen, so those prefixes count as `--`.
 * Applied to single tokens only, and with no nested quantifiers, so it runs in linear time.
 */
const FLAG_TOKEN = /^(?:--|[\u2013\u2014]-?)([a-z][a-z0-9_-]*)(?:=(.*))?$/i;

/** Longest user value echoed back in an error, so a pasted novel does not become the reply. */
const MAX_ECHOED_VALUE = 100;

/**
 * Reads the flags anywhere in `text` and returns them with the remaining prompt. Throws only
 * `invalid_input` errors: `unknown_flag`, `missing_flag_value`, `unknown_model`,
 * `unknown_aspect_ratio`, `unknown_resolution`, `count_out_of_range` or `repeat_out_of_range`, each
 * with the valid values.
 * When a flag is repeated, the last one wins.
 */
export function parsePromptFlags(text: string, catalog: ModelCatalog): ParsedPrompt {
  const clean = cleanText(text);
  const result: ParsedPrompt = { prompt: '', help: false, usage: false, history: false };
  /** Stretches of `clean` taken out (flags and their values), in order. */
  const removed: { start: number; end: number }[] = [];
  // Only tokens that start with a dash can be flags, so the scan jumps from one to the next
  // instead of splitting a long prompt into words.
  const candidates = /(?<!\S)(?:--|[\u2013\u2014])\S*/g;
  const nextToken = /\s+(\S+)/y;

  for (let found = candidates.exec(clean); found !== null; found = candidates.exec(clean)) {
    const match = FLAG_TOKEN.exec(found[0]);
    if (match === null) continue;
    const flag = `--${(match[1] ?? '').toLowerCase()}`;
    const kind = FLAG_KINDS.get(flag.slice(2));
    if (kind === undefined) {
      throw invalidInput('unknown_flag', `Unknown flag ${echo(flag)}`, {
        flag: echo(flag),
        valid: FLAG_NAMES,
      });
    }
    const span = { start: found.index, end: found.index + found[0].length };
    removed.push(span);
    if (
      kind === 'blend' ||
      kind === 'help' ||
      kind === 'usage' ||
      kind === 'history' ||
      kind === 'prefer' ||
      kind === 'settings'
    ) {
      // A value given as `--help=yes` means nothing more than the flag itself.
      result[kind] = true;
      continue;
    }
    let value = match[2];
    if (value === undefined) {
      nextToken.lastIndex = span.end;
      const next = nextToken.exec(clean)?.[1];
      if (next !== undefined && !FLAG_TOKEN.test(next)) {
        value = next;
        span.end = nextToken.lastIndex;
        candidates.lastIndex = span.end;
      }
    }
    if (value === undefined || value === '') {
      throw invalidInput('missing_flag_value', `The flag ${flag} needs a value`, { flag });
    }
    applyFlag(result, kind, value, catalog);
  }

  result.prompt = joinAround(clean, removed);
  return result;
}

/** What a prompt's flags cannot say: the action and the input images. */
export interface PromptExtras {
  readonly action?: ImageAction | undefined;
  readonly imageUrls?: readonly string[] | undefined;
}

/**
 * Turns parsed flags into a request and runs the full validation (the model's resolutions, the
 * prompt length, the images), so every front end takes the same path from text to request.
 */
export function toImageRequest(
  parsed: ParsedPrompt,
  limits: RequestLimits,
  extras: PromptExtras = {},
): ImageRequest {
  return validateRequest(
    {
      action: extras.action,
      prompt: parsed.prompt,
      model: parsed.model,
      imageUrls: extras.imageUrls,
      aspectRatio: parsed.aspectRatio,
      resolution: parsed.resolution,
      count: parsed.count,
    },
    limits,
  );
}

function applyFlag(
  result: ParsedPrompt,
  kind: Exclude<FlagKind, SwitchKind>,
  value: string,
  catalog: ModelCatalog,
): void {
  switch (kind) {
    case 'model': {
      const model = catalog.find(value);
      if (model === undefined) throw badValue('unknown_model', 'model', value, catalog.modelIds);
      result.model = model.id;
      return;
    }
    case 'aspectRatio': {
      // `16x9`, `16×9` and `16/9` are common ways to write 16:9.
      const ratio = value.toLowerCase().replace(/[x×/：]/g, ':');
      if (!isAspectRatio(ratio)) {
        throw badValue('unknown_aspect_ratio', 'aspect ratio', value, ASPECT_RATIOS);
      }
      result.aspectRatio = ratio;
      return;
    }
    case 'resolution': {
      const resolution = value.toUpperCase();
      if (!isResolution(resolution)) {
        throw badValue('unknown_resolution', 'resolution', value, RESOLUTIONS);
      }
      result.resolution = resolution;
      return;
    }
    case 'style':
      // Checked against the member's saved styles at admission, where they are known.
      result.style = value.toLowerCase();
      return;
    case 'count': {
      const count = /^\d{1,6}$/.test(value) ? Number(value) : Number.NaN;
      if (!(count >= MIN_COUNT && count <= MAX_COUNT)) {
        throw invalidInput(
          'count_out_of_range',
          `Count must be a whole number from ${MIN_COUNT} to ${MAX_COUNT}, not "${echo(value)}"`,
          { value: echo(value), min: MIN_COUNT, max: MAX_COUNT },
        );
      }
      result.count = count;
      return;
    }
    case 'repeat': {
      const repeat = /^\d{1,6}$/.test(value) ? Number(value) : Number.NaN;
      if (!(repeat >= MIN_REPEAT && repeat <= MAX_REPEAT)) {
        throw invalidInput(
          'repeat_out_of_range',
          `Repeat must be a whole number from ${MIN_REPEAT} to ${MAX_REPEAT}, not "${echo(value)}"`,
          { value: echo(value), min: MIN_REPEAT, max: MAX_REPEAT },
        );
      }
      result.repeat = repeat;
      return;
    }
  }
}

function badValue(
  reason: 'unknown_model' | 'unknown_aspect_ratio' | 'unknown_resolution',
  what: string,
  value: string,
  valid: readonly string[],
): NanoBananaError {
  return invalidInput(reason, `Unknown ${what} "${echo(value)}"`, { value: echo(value), valid });
}

function echo(value: string): string {
  return value.length > MAX_ECHOED_VALUE ? `${value.slice(0, MAX_ECHOED_VALUE)}…` : value;
}

/**
 * Removes what would hide a flag or garble the prompt: zero-width characters (a `--\u200Bar`
 * pasted from the web is still `--ar`) and control characters. Joiners between two non-ASCII
 * characters stay, since emoji sequences and scripts such as Persian need them.
 */
function cleanText(text: string): string {
  return (
    text
      .replace(/\r\n?/g, '\n')
      // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters is the point.
      .replace(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/g, ' ')
      .replace(/[\u200B-\u200D\u2060\uFEFF]/g, (character, offset: number, whole: string) =>
        (character === '\u200C' || character === '\u200D') &&
        isJoinable(whole.charCodeAt(offset - 1)) &&
        isJoinable(whole.charCodeAt(offset + 1))
          ? character
          : '',
      )
  );
}

function isJoinable(code: number): boolean {
  // NaN (outside the text) compares false, so a joiner at either end is dropped.
  return code > 0x7f && !/[\s\u200B-\u200D\u2060\uFEFF]/.test(String.fromCharCode(code));
}

/**
 * The prompt without the removed stretches. Text between flags stays as typed; where flags were
 * taken out, the join becomes one space, or one line break if the removed stretch crossed a line.
 */
function joinAround(text: string, removed: readonly { start: number; end: number }[]): string {
  let prompt = '';
  /** Whitespace met since the last kept text, across removed flags. */
  let gap = '';
  let position = 0;
  for (const span of [...removed, { start: text.length, end: text.length }]) {
    const segment = text.slice(position, span.start);
    position = span.end;
    const body = segment.trim();
    if (body === '') {
      gap += segment;
      continue;
    }
    const leading = segment.slice(0, segment.length - segment.trimStart().length);
    if (prompt !== '') prompt += (gap + leading).includes('\n') ? '\n' : ' ';
    prompt += body;
    gap = segment.slice(segment.trimEnd().length);
  }
  return prompt;
}
