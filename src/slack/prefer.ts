import {
  type ClearablePreference,
  changePreferences,
  invalidInput,
  type ParsedPrompt,
  type PreferenceChange,
  preferencesLines,
  translate,
  type UserPreferences,
} from '../core/index.js';
import { describeFailure } from './describe.js';
import type { SlackRuntime } from './runtime.js';
import { slackText } from './texts.js';

/** Preferences are per platform: a Slack member's are not their Discord account's. */
const PLATFORM = 'slack';

/** The words `clear` takes, as members may type them. */
const CLEAR_WORDS: Readonly<Record<string, ClearablePreference>> = {
  model: 'model',
  ratio: 'aspectRatio',
  ar: 'aspectRatio',
  aspect: 'aspectRatio',
  resolution: 'resolution',
  res: 'resolution',
  suffix: 'suffix',
  styles: 'styles',
  all: 'defaults',
};

/**
 * `/imagine --prefer …`: shows or changes the member's own defaults, as text (the answer is
 * private). The model, ratio and resolution are the flags a prompt takes (`--model pro --ar 16:9`);
 * then `suffix <text>`, `style add <name> <text>`, `style remove <name>`, `clear [what]`. Anything
 * else gets the usage, and changes nothing.
 */
export async function preferAnswer(
  runtime: SlackRuntime,
  parsed: ParsedPrompt,
  who: { readonly userId: string; readonly locale: string },
): Promise<string> {
  const { locale } = who;
  try {
    const change = readChange(parsed);
    if (change === 'usage') {
      return slackText(locale, 'prefer.usage', { command: runtime.settings.command });
    }
    const current = await runtime.settingsPort.preferences(PLATFORM, who.userId);
    if (change === 'show') return shown(locale, current);
    const next = changePreferences(current, change, {
      blockedWords: runtime.config.access.blockedWords,
    });
    const saved = await runtime.settingsPort.savePreferences(PLATFORM, who.userId, next);
    runtime.logger.info({ userId: who.userId, change: change.kind }, 'Preferences changed');
    return `${confirmation(locale, change)}\n\n${shown(locale, saved)}`;
  } catch (error) {
    return describeFailure(error, locale);
  }
}

function readChange(parsed: ParsedPrompt): PreferenceChange | 'show' | 'usage' {
  const text = parsed.prompt.trim();
  const defaults = {
    model: parsed.model,
    aspectRatio: parsed.aspectRatio,
    resolution: parsed.resolution,
  };
  const hasDefaults = Object.values(defaults).some((value) => value !== undefined);
  // `--count` and `--style` are not preferences: the usage says what is.
  const otherFlags = parsed.count !== undefined || parsed.style !== undefined;
  const suffix = /^suffix\s+([\s\S]+)$/i.exec(text);
  if (suffix !== null && !otherFlags) {
    return { kind: 'set', ...defaults, suffix: suffix[1]?.trim() ?? '' };
  }
  if (text === '' && !otherFlags) return hasDefaults ? { kind: 'set', ...defaults } : 'show';
  if (hasDefaults || otherFlags) {
    // A style's text lost an option to the flag parser: refused, not saved without it.
    if (/^style\s+add\b/i.test(text)) {
      throw invalidInput('options_in_text', 'A style holds an option', { setting: 'style' });
    }
    return 'usage';
  }
  if (/^(show|list|styles?|style\s+list)$/i.test(text)) return 'show';
  const add = /^style\s+add\s+(\S+)\s+([\s\S]+)$/i.exec(text);
  if (add !== null) return { kind: 'add_style', name: add[1] ?? '', text: add[2]?.trim() ?? '' };
  const remove = /^style\s+remove\s+(\S+)$/i.exec(text);
  if (remove !== null) return { kind: 'remove_style', name: remove[1] ?? '' };
  const clear = /^clear(?:\s+(\S+))?$/i.exec(text);
  if (clear !== null) {
    const what = clear[1] === undefined ? 'defaults' : CLEAR_WORDS[clear[1].toLowerCase()];
    return what === undefined ? 'usage' : { kind: 'clear', what };
  }
  return 'usage';
}

function confirmation(locale: string, change: PreferenceChange): string {
  switch (change.kind) {
    case 'add_style':
      return `✅ ${translate(locale, 'prefer.style_saved', { name: change.name.trim().toLowerCase() })}`;
    case 'remove_style':
      return `✅ ${translate(locale, 'prefer.style_removed', { name: change.name.trim().toLowerCase() })}`;
    default:
      return `✅ ${translate(locale, 'prefer.saved')}`;
  }
}

function shown(locale: string, preferences: UserPreferences): string {
  return [`*${translate(locale, 'prefer.title')}*`, ...preferencesLines(locale, preferences)].join(
    '\n',
  );
}
