import { type Locale, type MessageKey, translate } from '../messages.js';
import type { AppliedDefault } from './resolve.js';

/** Where a server's settings live, in the platform's words: a Discord server, a Slack workspace. */
export type SettingsPlace = 'server' | 'workspace';

const SETTING_KEYS: Readonly<Record<AppliedDefault['setting'], MessageKey>> = {
  model: 'defaults.setting.model',
  aspectRatio: 'defaults.setting.aspectRatio',
  resolution: 'defaults.setting.resolution',
  suffix: 'defaults.setting.suffix',
};

/**
 * The result's line naming the defaults a request did not say ("Defaults used: model from your
 * preferences, ratio from the server's settings."), so that a member who forgot a preference sees
 * why the image is wide; undefined when the request said everything.
 */
export function appliedDefaultsNote(
  locale: Locale | string,
  applied: readonly AppliedDefault[] | undefined,
  place: SettingsPlace,
): string | undefined {
  if (applied === undefined || applied.length === 0) return undefined;
  const list = applied.map((entry) => {
    const setting = translate(locale, SETTING_KEYS[entry.setting]);
    return entry.source === 'preferences'
      ? translate(locale, 'defaults.from_preferences', { setting })
      : translate(locale, 'defaults.from_server', { setting, place });
  });
  return translate(locale, 'defaults.note', { list });
}
