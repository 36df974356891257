import type { AspectRatio, Resolution } from '../models.js';

/**
 * A member's own defaults (Midjourney's `/prefer`): they come after what a request says and
 * before the server's settings. The suffix is added to every prompt; a style is named text that
 * `--style <name>` adds to one prompt.
 */
export interface UserPreferences {
  readonly model?: string | undefined;
  readonly aspectRatio?: AspectRatio | undefined;
  readonly resolution?: Resolution | undefined;
  readonly suffix?: string | undefined;
  /** Style name → its text. */
  readonly styles?: Readonly<Record<string, string>> | undefined;
}

export const MAX_STYLES = 20;
export const MAX_SUFFIX_LENGTH = 200;
export const MAX_STYLE_TEXT_LENGTH = 500;
/** Lowercase, so that `--style Cinematic` finds `cinematic`; short enough for a button label. */
export const STYLE_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
