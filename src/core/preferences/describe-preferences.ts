import { type Locale, translate } from '../messages.js';
import { MAX_STYLES, type UserPreferences } from './user-preferences.js';

/** A style's text is cut here: twenty of them must fit one chat message (Discord: 2,000 characters). */
const MAX_SHOWN_STYLE = 50;
/** A suffix is cut here (it may hold 200 characters): the catalogue cuts parameters at 200. */
const MAX_SHOWN_SUFFIX = 150;

/**
 * A member's preferences as lines of text, the same on every platform: model, ratio, resolution,
 * suffix, then the styles, then how they rank against a request and the server. Values go between
 * backticks (code on Discord and Slack alike), so a suffix cannot format the message.
 */
export function preferencesLines(locale: Locale | string, preferences: UserPreferences): string[] {
  const line = (name: 'model' | 'aspectRatio' | 'resolution' | 'suffix', value?: string) =>
    translate(locale, 'prefer.setting', {
      name: capitalize(translate(locale, `defaults.setting.${name}`)),
      value:
        value === undefined
          ? translate(locale, 'prefer.unset')
          : code(shorten(value, MAX_SHOWN_SUFFIX)),
    });
  const styles = Object.entries(preferences.styles ?? {}).sort(([left], [right]) =>
    left.localeCompare(right),
  );
  return [
    line('model', preferences.model),
    line('aspectRatio', preferences.aspectRatio),
    line('resolution', preferences.resolution),
    line('suffix', preferences.suffix),
    ...(styles.length === 0
      ? [translate(locale, 'prefer.no_styles')]
      : [
          translate(locale, 'prefer.styles', { count: styles.length, max: MAX_STYLES }),
          ...styles.map(
            ([name, text]) => `• ${code(name)} ${code(shorten(text, MAX_SHOWN_STYLE))}`,
          ),
        ]),
    translate(locale, 'prefer.precedence'),
  ];
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function shorten(text: string, max: number): string {
  const characters = [...text];
  return characters.length <= max ? text : `${characters.slice(0, max - 1).join('')}…`;
}

/** Between backticks, with any backtick in the text made harmless. */
function code(text: string): string {
  return `\`${text.replace(/`/g, 'ʼ')}\``;
}
