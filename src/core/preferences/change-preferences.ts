import { invalidInput, isNanoBananaError, NanoBananaError } from '../errors.js';
import { checkBlockedWords } from '../jobs/policy.js';
import type { AspectRatio, Resolution } from '../models.js';
import type { UserPreferences } from './user-preferences.js';

/** What a member may clear; `defaults` is the model, ratio, resolution and suffix together. */
export const CLEARABLE_PREFERENCES = [
  'model',
  'aspectRatio',
  'resolution',
  'suffix',
  'styles',
  'defaults',
] as const;
export type ClearablePreference = (typeof CLEARABLE_PREFERENCES)[number];

/** One change a member asks for with `/prefer` (Discord) or `--prefer` (Slack). */
export type PreferenceChange =
  | {
      readonly kind: 'set';
      readonly model?: string | undefined;
      readonly aspectRatio?: AspectRatio | undefined;
      readonly resolution?: Resolution | undefined;
      readonly suffix?: string | undefined;
    }
  | { readonly kind: 'clear'; readonly what: ClearablePreference }
  | { readonly kind: 'add_style'; readonly name: string; readonly text: string }
  | { readonly kind: 'remove_style'; readonly name: string };

export interface PreferenceRules {
  /** The operator's blocked words: a style or suffix holding one would refuse every request. */
  readonly blockedWords: readonly string[];
}

/**
 * The preferences after a change, before they are saved (the store's `savePreferences` then
 * checks the values, the name pattern, the lengths and the number of styles). Checked here, where
 * the member is told at once rather than at each request: a suffix or style is plain text (an
 * `--ar` in it would be sent to the model as words), holds no blocked word, and a style removed
 * exists. Style names are lower-cased, as `--style` looks them up.
 */
export function changePreferences(
  current: UserPreferences,
  change: PreferenceChange,
  rules: PreferenceRules,
): UserPreferences {
  switch (change.kind) {
    case 'set': {
      const next: Record<string, unknown> = { ...current };
      if (change.model !== undefined) next.model = change.model;
      if (change.aspectRatio !== undefined) next.aspectRatio = change.aspectRatio;
      if (change.resolution !== undefined) next.resolution = change.resolution;
      if (change.suffix !== undefined) {
        checkPlainText(change.suffix, 'suffix', rules);
        next.suffix = change.suffix;
      }
      return next as UserPreferences;
    }
    case 'clear': {
      const next: Record<string, unknown> = { ...current };
      const fields =
        change.what === 'defaults'
          ? ['model', 'aspectRatio', 'resolution', 'suffix']
          : [change.what];
      for (const field of fields) delete next[field];
      return next as UserPreferences;
    }
    case 'add_style': {
      const name = change.name.trim().toLowerCase();
      checkPlainText(change.text, 'style', rules);
      return { ...current, styles: { ...current.styles, [name]: change.text } };
    }
    case 'remove_style': {
      const name = change.name.trim().toLowerCase();
      const styles = { ...current.styles };
      if (!Object.hasOwn(styles, name)) {
        const names = Object.keys(styles).sort();
        throw invalidInput('unknown_style', `No style named "${name}"`, {
          value: name.slice(0, 40),
          ...(names.length === 0 ? {} : { valid: names }),
        });
      }
      delete styles[name];
      return { ...current, styles };
    }
  }
}

/**
 * A whole token that the flag parser would take for an option (`--ar`, `—ar`, `--anything`): the
 * same shape as the parser's, so that any flag, known or not, counts.
 */
const FLAG_TOKEN = /(?<!\S)(?:--|[\u2013\u2014]-?)[a-z]/i;

function checkPlainText(text: string, source: 'style' | 'suffix', rules: PreferenceRules): void {
  if (FLAG_TOKEN.test(text)) {
    throw invalidInput('options_in_text', `A ${source} holds an option`, { setting: source });
  }
  try {
    checkBlockedWords({ blockedWords: rules.blockedWords }, text);
  } catch (error) {
    if (!isNanoBananaError(error)) throw error;
    throw new NanoBananaError('blocked_prompt', error.message, {
      params: { ...error.params, source },
    });
  }
}
