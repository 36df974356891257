import type { Clock } from '../clock.js';
import { invalidInput } from '../errors.js';
import type { JobStore, SettingsScope } from '../jobs/store.js';
import {
  ASPECT_RATIOS,
  isAspectRatio,
  isResolution,
  type ModelCatalog,
  RESOLUTIONS,
} from '../models.js';
import {
  MAX_SERVER_CHANNELS,
  MAX_SERVER_DAILY_IMAGES,
  type ServerSettings,
} from './server-settings.js';
import type { SettingsPort } from './settings-port.js';
import {
  MAX_STYLE_TEXT_LENGTH,
  MAX_STYLES,
  MAX_SUFFIX_LENGTH,
  STYLE_NAME,
  type UserPreferences,
} from './user-preferences.js';

/**
 * The stored settings, read and written through the job store (so that both stores carry them
 * and every process of a fleet sees the same). Writes are validated field by field; reads keep
 * the fields that are still valid (a model the operator has since removed is dropped, not an
 * error), so that a stale document never stops a request.
 */
export class SettingsBook implements SettingsPort {
  readonly #store: JobStore;
  readonly #clock: Clock;
  readonly #catalog: ModelCatalog;

  constructor(options: { store: JobStore; clock: Clock; catalog: ModelCatalog }) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#catalog = options.catalog;
  }

  async server(platform: string, serverId: string): Promise<ServerSettings> {
    const stored = await this.#store.getSettings('server', settingsKey(platform, serverId));
    return readFields(stored, this.#serverFields(), false) as ServerSettings;
  }

  async saveServer(
    platform: string,
    serverId: string,
    settings: ServerSettings,
  ): Promise<ServerSettings> {
    const valid = readFields(settings, this.#serverFields(), true) as ServerSettings;
    await this.#put('server', settingsKey(platform, serverId), valid);
    return valid;
  }

  async preferences(platform: string, userId: string): Promise<UserPreferences> {
    const stored = await this.#store.getSettings('user', settingsKey(platform, userId));
    return readFields(stored, this.#userFields(), false) as UserPreferences;
  }

  async savePreferences(
    platform: string,
    userId: string,
    preferences: UserPreferences,
  ): Promise<UserPreferences> {
    const valid = readFields(preferences, this.#userFields(), true) as UserPreferences;
    await this.#put('user', settingsKey(platform, userId), valid);
    return valid;
  }

  async #put(scope: SettingsScope, key: string, value: object): Promise<void> {
    // An empty document is no document: "no settings" reads the same either way.
    const empty = Object.keys(value).length === 0;
    await this.#store.putSettings(scope, key, empty ? undefined : value, this.#clock.now());
  }

  #serverFields(): FieldReaders {
    return {
      ...this.#defaultsFields(),
      channels: (value) => {
        const channels = [...new Set(list(value, 'channels').map((item) => id(item, 'channels')))];
        if (channels.length > MAX_SERVER_CHANNELS) {
          throw invalidInput('bad_setting', `More than ${MAX_SERVER_CHANNELS} channels`, {
            setting: 'channels',
            value: String(channels.length),
          });
        }
        return channels.length === 0 ? undefined : channels;
      },
      dailyImages: (value) => {
        if (
          typeof value !== 'number' ||
          !Number.isInteger(value) ||
          value < 1 ||
          value > MAX_SERVER_DAILY_IMAGES
        ) {
          throw invalidInput('bad_setting', 'The daily image limit is not a whole number ≥ 1', {
            setting: 'dailyImages',
            value: String(value),
          });
        }
        return value;
      },
      auditChannelId: (value) => id(value, 'auditChannelId'),
      privateResults: (value) => flag(value, 'privateResults'),
      threads: (value) => flag(value, 'threads'),
    };
  }

  #userFields(): FieldReaders {
    return {
      ...this.#defaultsFields(),
      suffix: (value) => {
        const suffix = text(value, 'suffix').trim();
        if ([...suffix].length > MAX_SUFFIX_LENGTH) {
          throw invalidInput('setting_too_long', 'The suffix is too long', {
            setting: 'suffix',
            max: MAX_SUFFIX_LENGTH,
          });
        }
        return suffix === '' ? undefined : suffix;
      },
      styles: (value) => {
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          throw invalidInput('bad_setting', 'Styles are not a map of names to texts', {
            setting: 'styles',
            value: String(value),
          });
        }
        const entries = Object.entries(value as Record<string, unknown>);
        if (entries.length > MAX_STYLES) {
          throw invalidInput('too_many_styles', `More than ${MAX_STYLES} styles`, {
            max: MAX_STYLES,
          });
        }
        const styles: Record<string, string> = {};
        for (const [name, styleText] of entries) {
          if (!STYLE_NAME.test(name)) {
            throw invalidInput('bad_style_name', 'A style name is not valid', {
              value: name.slice(0, 100),
            });
          }
          const body = text(styleText, 'style').trim();
          if (body === '')
            throw invalidInput('bad_setting', 'A style is empty', {
              setting: 'style',
              value: name,
            });
          if ([...body].length > MAX_STYLE_TEXT_LENGTH) {
            throw invalidInput('setting_too_long', 'A style is too long', {
              setting: 'style',
              max: MAX_STYLE_TEXT_LENGTH,
            });
          }
          styles[name] = body;
        }
        return entries.length === 0 ? undefined : styles;
      },
    };
  }

  /** The model, ratio and resolution both kinds of settings carry. */
  #defaultsFields(): FieldReaders {
    return {
      model: (value) => {
        const model = this.#catalog.find(text(value, 'model'));
        if (model === undefined) {
          throw invalidInput('unknown_model', 'Unknown model', {
            value: String(value).slice(0, 100),
            valid: this.#catalog.modelIds,
          });
        }
        return model.id;
      },
      aspectRatio: (value) => {
        if (typeof value !== 'string' || !isAspectRatio(value)) {
          throw invalidInput('unknown_aspect_ratio', 'Unknown aspect ratio', {
            value: String(value).slice(0, 100),
            valid: ASPECT_RATIOS,
          });
        }
        return value;
      },
      resolution: (value) => {
        const resolution = typeof value === 'string' ? value.toUpperCase() : '';
        if (!isResolution(resolution)) {
          throw invalidInput('unknown_resolution', 'Unknown resolution', {
            value: String(value).slice(0, 100),
            valid: RESOLUTIONS,
          });
        }
        return resolution;
      },
    };
  }
}

/** The store key of a server's or member's settings: ids are only unique within a platform. */
export function settingsKey(platform: string, id: string): string {
  return `${platform}:${id}`;
}

/** Reads one field: returns its clean value (undefined = unset) or throws `invalid_input`. */
type FieldReaders = Readonly<Record<string, (value: unknown) => unknown>>;

/**
 * Keeps the known fields of a document, each through its reader. `strict`: a bad field throws
 * (a write); otherwise it is left out (a read of what an older version, or a since-changed model
 * list, left behind). Unknown fields are always left out.
 */
function readFields(document: unknown, readers: FieldReaders, strict: boolean): object {
  if (typeof document !== 'object' || document === null) return {};
  const result: Record<string, unknown> = {};
  for (const [field, read] of Object.entries(readers)) {
    const value = (document as Record<string, unknown>)[field];
    if (value === undefined || value === null) continue;
    try {
      const clean = read(value);
      if (clean !== undefined) result[field] = clean;
    } catch (error) {
      if (strict) throw error;
    }
  }
  return result;
}

function text(value: unknown, setting: string): string {
  if (typeof value !== 'string') {
    throw invalidInput('bad_setting', `${setting} is not text`, { setting, value: String(value) });
  }
  return value;
}

function list(value: unknown, setting: string): unknown[] {
  if (!Array.isArray(value)) {
    throw invalidInput('bad_setting', `${setting} is not a list`, {
      setting,
      value: String(value),
    });
  }
  return value;
}

/** A platform id (channel, user): short, no spaces. */
function id(value: unknown, setting: string): string {
  const candidate = text(value, setting).trim();
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(candidate)) {
    throw invalidInput('bad_setting', `${setting} is not an id`, {
      setting,
      value: candidate.slice(0, 100),
    });
  }
  return candidate;
}

function flag(value: unknown, setting: string): boolean {
  if (typeof value !== 'boolean') {
    throw invalidInput('bad_setting', `${setting} is not on or off`, {
      setting,
      value: String(value),
    });
  }
  return value;
}
