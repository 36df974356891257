export {
  MAX_SERVER_CHANNELS,
  MAX_SERVER_DAILY_IMAGES,
  type ServerSettings,
} from './server-settings.js';
export { SettingsBook, settingsKey } from './settings-book.js';
export type { SettingsPort } from './settings-port.js';
export {
  MAX_STYLE_TEXT_LENGTH,
  MAX_STYLES,
  MAX_SUFFIX_LENGTH,
  STYLE_NAME,
  type UserPreferences,
} from './user-preferences.js';
