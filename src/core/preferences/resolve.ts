/**
 * The precedence of defaults, in one place: what the request says (command options, then flags
 * typed in the prompt, as the adapters already merge them) > the member's personal preferences >
 * the server's settings > the operator's defaults (`NANO_BANANA_DEFAULT_MODEL`). It also expands
 * `--style <name>` and adds the personal suffix to the prompt, and says which defaults it applied,
 * so that the result can tell the member where a setting they did not type came from.
 */

import { invalidInput } from '../errors.js';
import type { AspectRatio, ModelCatalog, ModelSpec, Resolution } from '../models.js';
import type { ImageAction } from '../request.js';

/** A setting a request left unsaid and a default filled in. */
export type DefaultedSetting = 'model' | 'aspectRatio' | 'resolution' | 'suffix';
/** Where a default came from. The operator's defaults are not named: they are the bot's own. */
export type DefaultSource = 'preferences' | 'server';

export interface AppliedDefault {
  readonly setting: DefaultedSetting;
  readonly source: DefaultSource;
}

/** What a request says: anything left out is resolved here. */
export interface RequestedOptions {
  readonly model?: string | undefined;
  readonly aspectRatio?: AspectRatio | undefined;
  readonly resolution?: Resolution | undefined;
  readonly count?: number | undefined;
}

/** The defaults a level of the precedence may hold (a server's settings, a member's preferences). */
export interface OptionDefaults {
  readonly model?: string | undefined;
  readonly aspectRatio?: AspectRatio | undefined;
  readonly resolution?: Resolution | undefined;
}

/** A member's preferences as far as a request is concerned (`UserPreferences` fits). */
export interface PersonalDefaults extends OptionDefaults {
  readonly suffix?: string | undefined;
  readonly styles?: Readonly<Record<string, string>> | undefined;
}

export interface ResolveInput {
  readonly action: ImageAction;
  /** The prompt as the member typed it, flags removed. */
  readonly prompt: string;
  readonly options: RequestedOptions;
  /** A style the request names (`--style cinematic`). */
  readonly style?: string | undefined;
  /**
   * The prompt was copied from an earlier job (a re-roll, a variation, an upscale): it already
   * holds its style and suffix, which are not added twice.
   */
  readonly promptIsFinal?: boolean | undefined;
  readonly preferences: PersonalDefaults;
  readonly server: OptionDefaults;
  /** The operator's default model (`NANO_BANANA_DEFAULT_MODEL`, already a catalog id). */
  readonly defaultModel: string;
  readonly catalog: ModelCatalog;
}

export interface ResolvedRequest {
  /** The prompt with the style's text and the suffix added. */
  readonly prompt: string;
  readonly options: {
    readonly model: string;
    readonly aspectRatio?: AspectRatio | undefined;
    readonly resolution?: Resolution | undefined;
    readonly count?: number | undefined;
  };
  /** In the order model, ratio, resolution, suffix; empty when the request said everything. */
  readonly appliedDefaults: readonly AppliedDefault[];
  /** What the style and the suffix added to the prompt, for a clearer refusal (blocked word, length). */
  readonly additions: readonly { readonly kind: 'style' | 'suffix'; readonly text: string }[];
}

/**
 * Resolves a request's options and prompt. Pure: the caller reads the preferences and the server's
 * settings. Defaults that no longer make sense are skipped rather than refused, since the member
 * did not type them: a stored model the catalog no longer has, a resolution the chosen model does
 * not make (the next level's is tried). What the request itself says is kept as it is, and
 * validated later like any request. A default aspect ratio is not applied to an edit: without one
 * the result keeps the shape of the image being edited, which is what an edit means.
 *
 * Throws `invalid_input` (`unknown_style`, listing the member's styles) for a style they do not have.
 */
export function resolveRequest(input: ResolveInput): ResolvedRequest {
  const { options, catalog } = input;
  const levels: readonly { source: DefaultSource; values: OptionDefaults }[] = [
    { source: 'preferences', values: input.preferences },
    { source: 'server', values: input.server },
  ];
  const applied: AppliedDefault[] = [];

  let model: ModelSpec | undefined;
  let modelId: string;
  if (options.model !== undefined) {
    modelId = options.model;
    model = catalog.find(options.model);
  } else {
    const fromLevel = firstOf(levels, (values) =>
      values.model === undefined ? undefined : catalog.find(values.model),
    );
    if (fromLevel !== undefined) applied.push({ setting: 'model', source: fromLevel.source });
    model = fromLevel?.value ?? catalog.find(input.defaultModel);
    modelId = model?.id ?? input.defaultModel;
  }

  let aspectRatio = options.aspectRatio;
  if (aspectRatio === undefined && input.action === 'generate') {
    const fromLevel = firstOf(levels, (values) => values.aspectRatio);
    if (fromLevel !== undefined) {
      aspectRatio = fromLevel.value;
      applied.push({ setting: 'aspectRatio', source: fromLevel.source });
    }
  }

  let resolution = options.resolution;
  if (resolution === undefined) {
    const fromLevel = firstOf(levels, (values) =>
      values.resolution !== undefined && model?.resolutions.includes(values.resolution)
        ? values.resolution
        : undefined,
    );
    if (fromLevel !== undefined) {
      resolution = fromLevel.value;
      applied.push({ setting: 'resolution', source: fromLevel.source });
    }
  }

  const additions: { kind: 'style' | 'suffix'; text: string }[] = [];
  // An empty prompt stays empty, to be refused as one: a style or a suffix alone is not a request.
  const typed = input.prompt.trim();
  if (!input.promptIsFinal && typed !== '') {
    if (input.style !== undefined) {
      additions.push({ kind: 'style', text: styleText(input.style, input.preferences.styles) });
    }
    const suffix = input.preferences.suffix?.trim() ?? '';
    if (suffix !== '') {
      additions.push({ kind: 'suffix', text: suffix });
      applied.push({ setting: 'suffix', source: 'preferences' });
    }
  }
  const prompt = additions.reduce((text, addition) => joinPrompt(text, addition.text), typed);

  return {
    prompt: additions.length === 0 ? input.prompt : prompt,
    options: {
      model: modelId,
      ...(aspectRatio === undefined ? {} : { aspectRatio }),
      ...(resolution === undefined ? {} : { resolution }),
      ...(options.count === undefined ? {} : { count: options.count }),
    },
    appliedDefaults: applied,
    additions,
  };
}

/** The stored text of a member's style; names are compared in lower case, as they are stored. */
function styleText(name: string, styles: Readonly<Record<string, string>> | undefined): string {
  const wanted = name.trim().toLowerCase();
  const text = styles !== undefined && Object.hasOwn(styles, wanted) ? styles[wanted] : undefined;
  if (text === undefined || text.trim() === '') {
    const names = Object.keys(styles ?? {}).sort();
    throw invalidInput('unknown_style', `No style named "${wanted}"`, {
      value: wanted.slice(0, 40),
      ...(names.length === 0 ? {} : { valid: names }),
    });
  }
  return text.trim();
}

/** `a cat` + `watercolor` → `a cat, watercolor`; after a closing punctuation mark, a space only. */
function joinPrompt(prompt: string, addition: string): string {
  return /[,.;:!?]$/.test(prompt) ? `${prompt} ${addition}` : `${prompt}, ${addition}`;
}

function firstOf<T>(
  levels: readonly { source: DefaultSource; values: OptionDefaults }[],
  pick: (values: OptionDefaults) => T | undefined,
): { source: DefaultSource; value: T } | undefined {
  for (const level of levels) {
    const value = pick(level.values);
    if (value !== undefined) return { source: level.source, value };
  }
  return undefined;
}
