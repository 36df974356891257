/**
 * The one table of valid values: models, aspect ratios, resolutions and output sizes. Validation,
 * the flag parser, the chat adapters' choices and the mock API all read it from here.
 */

export const ASPECT_RATIOS = ['1:1', '3:2', '2:3', '16:9', '9:16', '4:3', '3:4'] as const;
export type AspectRatio = (typeof ASPECT_RATIOS)[number];

export const RESOLUTIONS = ['1K', '2K', '4K'] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

export const MIN_COUNT = 1;
export const MAX_COUNT = 4;
/** AceData's own n8n node caps the list at 16. */
export const MAX_INPUT_IMAGES = 16;

export interface ModelSpec {
  /** The name the API expects. */
  readonly id: string;
  /** Short names users may type (`--model pro`). */
  readonly aliases: readonly string[];
  readonly resolutions: readonly Resolution[];
  /** A human label for menus. */
  readonly label: string;
}

const ALL_RESOLUTIONS: readonly Resolution[] = RESOLUTIONS;
const ONLY_1K: readonly Resolution[] = ['1K'];

const BASE_MODELS: readonly ModelSpec[] = [
  {
    id: 'nano-banana',
    aliases: ['banana', 'nb', '1', 'flash'],
    resolutions: ONLY_1K,
    label: 'Nano Banana (Gemini 2.5 Flash Image)',
  },
  {
    id: 'nano-banana-2',
    aliases: ['2', 'nb2'],
    resolutions: ALL_RESOLUTIONS,
    label: 'Nano Banana 2 (Gemini 3.1 Flash Image)',
  },
  {
    id: 'nano-banana-2-lite',
    aliases: ['lite', '2-lite'],
    resolutions: ONLY_1K,
    label: 'Nano Banana 2 Lite',
  },
  {
    id: 'nano-banana-pro',
    aliases: ['pro'],
    resolutions: ALL_RESOLUTIONS,
    label: 'Nano Banana Pro (Gemini 3 Pro Image)',
  },
];

/** Each model also exists as an `:official` variant with the same abilities. */
export const BUILTIN_MODELS: readonly ModelSpec[] = [
  ...BASE_MODELS,
  ...BASE_MODELS.map((model) => ({
    id: `${model.id}:official`,
    aliases: [],
    resolutions: model.resolutions,
    label: `${model.label}, official`,
  })),
];

export interface ModelCatalog {
  readonly models: readonly ModelSpec[];
  /** Every model id, for messages that list the valid values. */
  readonly modelIds: readonly string[];
  /** Finds a model by id or alias, case-insensitively. */
  find(nameOrAlias: string): ModelSpec | undefined;
}

/**
 * Parses `NANO_BANANA_EXTRA_MODELS`: comma-separated model ids, each optionally followed by `=`
 * and its resolutions separated by `/` (`my-model=1K/2K`). Without resolutions a model does 1K.
 */
export function parseExtraModels(text: string): ModelSpec[] {
  const models: ModelSpec[] = [];
  for (const entry of text.split(',')) {
    const trimmed = entry.trim();
    if (trimmed === '') continue;
    const [rawId = '', rawResolutions] = trimmed.split('=', 2);
    const id = rawId.trim();
    if (!/^[a-z0-9][a-z0-9._:-]*$/i.test(id)) {
      throw new Error(`"${id}" is not a valid model name`);
    }
    const resolutions: Resolution[] = [];
    for (const value of (rawResolutions ?? '1K').split('/')) {
      const resolution = RESOLUTIONS.find((known) => known === value.trim().toUpperCase());
      if (resolution === undefined) {
        throw new Error(`"${value}" is not a resolution (valid: ${RESOLUTIONS.join(', ')})`);
      }
      resolutions.push(resolution);
    }
    models.push({ id, aliases: [], resolutions, label: id });
  }
  return models;
}

export function createModelCatalog(extraModels: readonly ModelSpec[] = []): ModelCatalog {
  const byName = new Map<string, ModelSpec>();
  const models: ModelSpec[] = [];
  for (const model of [...BUILTIN_MODELS, ...extraModels]) {
    const existing = byName.get(model.id.toLowerCase());
    if (existing !== undefined) {
      // Configuration may redefine a built-in model (e.g. when a model gains 2K); it keeps its
      // short names.
      const merged = { ...model, aliases: [...existing.aliases, ...model.aliases] };
      models.splice(models.indexOf(existing), 1, merged);
      byName.set(model.id.toLowerCase(), merged);
    } else {
      models.push(model);
      byName.set(model.id.toLowerCase(), model);
    }
  }
  for (const model of models) {
    for (const alias of model.aliases) {
      if (!byName.has(alias.toLowerCase())) byName.set(alias.toLowerCase(), model);
    }
  }
  return {
    models,
    modelIds: models.map((model) => model.id),
    find: (nameOrAlias) => byName.get(nameOrAlias.trim().toLowerCase()),
  };
}

export function isAspectRatio(value: string): value is AspectRatio {
  return (ASPECT_RATIOS as readonly string[]).includes(value);
}

export function isResolution(value: string): value is Resolution {
  return (RESOLUTIONS as readonly string[]).includes(value);
}

/** Landscape sizes from the contract; portrait ratios are the same turned. */
const NANO_BANANA_1K: Readonly<Record<string, readonly [number, number]>> = {
  '1:1': [1024, 1024],
  '3:2': [1248, 832],
  '16:9': [1344, 768],
  '4:3': [1184, 864],
};
const LATER_MODELS_1K: Readonly<Record<string, readonly [number, number]>> = {
  '1:1': [1024, 1024],
  '3:2': [1264, 848],
  '16:9': [1376, 768],
  '4:3': [1200, 896],
};
const RESOLUTION_SCALE: Readonly<Record<Resolution, number>> = { '1K': 1, '2K': 2, '4K': 4 };

export interface PixelSize {
  readonly width: number;
  readonly height: number;
}

/**
 * The pixel size the API produces for a model, ratio and resolution. The first-generation model
 * has its own 1K table; later ones share another, doubled for 2K and 4K.
 */
export function outputSize(
  modelId: string,
  aspectRatio: AspectRatio = '1:1',
  resolution: Resolution = '1K',
): PixelSize {
  const firstGeneration = modelId.split(':')[0] === 'nano-banana';
  const table = firstGeneration ? NANO_BANANA_1K : LATER_MODELS_1K;
  const [first = '1', second = '1'] = aspectRatio.split(':');
  const portrait = Number(first) < Number(second);
  const landscapeKey = portrait ? `${second}:${first}` : aspectRatio;
  const [width, height] = table[landscapeKey] ?? [1024, 1024];
  const scale = firstGeneration ? 1 : RESOLUTION_SCALE[resolution];
  return portrait
    ? { width: height * scale, height: width * scale }
    : { width: width * scale, height: height * scale };
}
