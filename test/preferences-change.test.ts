import { describe, expect, it } from 'vitest';
import { NanoBananaError } from '../src/core/errors.js';
import { describeError } from '../src/core/messages.js';
import { changePreferences } from '../src/core/preferences/change-preferences.js';
import { preferencesLines } from '../src/core/preferences/describe-preferences.js';
import type { UserPreferences } from '../src/core/preferences/user-preferences.js';

const rules = { blockedWords: ['gore'] };
const current: UserPreferences = {
  model: 'nano-banana-pro',
  aspectRatio: '16:9',
  suffix: 'soft light',
  styles: { noir: 'black and white' },
};

function refusal(run: () => unknown): NanoBananaError {
  try {
    run();
  } catch (error) {
    if (error instanceof NanoBananaError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('changing preferences', () => {
  it('sets only what is given', () => {
    expect(changePreferences(current, { kind: 'set', resolution: '2K' }, rules)).toEqual({
      ...current,
      resolution: '2K',
    });
  });

  it('clears the defaults but keeps the styles, or one setting, or the styles', () => {
    expect(changePreferences(current, { kind: 'clear', what: 'defaults' }, rules)).toEqual({
      styles: { noir: 'black and white' },
    });
    expect(changePreferences(current, { kind: 'clear', what: 'aspectRatio' }, rules)).toEqual({
      model: 'nano-banana-pro',
      suffix: 'soft light',
      styles: { noir: 'black and white' },
    });
    expect(
      changePreferences(current, { kind: 'clear', what: 'styles' }, rules).styles,
    ).toBeUndefined();
  });

  it('adds a style under its lower-case name, replaces one of the same name, removes one', () => {
    const added = changePreferences(
      current,
      { kind: 'add_style', name: ' Ink ', text: 'ink wash' },
      rules,
    );
    expect(added.styles).toEqual({ noir: 'black and white', ink: 'ink wash' });
    const replaced = changePreferences(
      added,
      { kind: 'add_style', name: 'NOIR', text: 'high contrast' },
      rules,
    );
    expect(replaced.styles).toEqual({ noir: 'high contrast', ink: 'ink wash' });
    expect(
      changePreferences(replaced, { kind: 'remove_style', name: 'Ink' }, rules).styles,
    ).toEqual({ noir: 'high contrast' });
  });

  it('refuses to remove a style the member does not have, naming theirs', () => {
    const error = refusal(() =>
      changePreferences(current, { kind: 'remove_style', name: 'pastel' }, rules),
    );
    expect(describeError(error, 'en')).toBe(
      'You have no style called “pastel”. Your styles: noir.',
    );
  });

  it('refuses options inside a suffix or a style, however the dash is typed', () => {
    for (const text of ['moody --ar 16:9', 'moody —ar 16:9', '--whatever', 'a –-model pro look']) {
      const error = refusal(() => changePreferences(current, { kind: 'set', suffix: text }, rules));
      expect(error.params).toEqual({ reason: 'options_in_text', setting: 'suffix' });
    }
    const style = refusal(() =>
      changePreferences(current, { kind: 'add_style', name: 'wide', text: 'vast --res 4K' }, rules),
    );
    expect(describeError(style, 'en')).toBe(
      'A style is plain text, without options such as --ar: set the model, ratio and resolution as preferences of their own.',
    );
    expect(describeError(style, 'fr')).toContain('Un style est du texte simple');
    // Dashes inside words are text.
    expect(
      changePreferences(current, { kind: 'set', suffix: 'a well--lit, high-key look' }, rules)
        .suffix,
    ).toBe('a well--lit, high-key look');
  });

  it('refuses a blocked word in a suffix or a style, saying where it is', () => {
    const suffix = refusal(() =>
      changePreferences(current, { kind: 'set', suffix: 'Gore everywhere' }, rules),
    );
    expect(suffix.code).toBe('blocked_prompt');
    expect(describeError(suffix, 'en')).toBe(
      'Your prompt suffix contains a word that isn’t allowed here. Change it in your preferences.',
    );
    const style = refusal(() =>
      changePreferences(current, { kind: 'add_style', name: 'x', text: 'gore' }, rules),
    );
    expect(style.params.source).toBe('style');
  });
});

describe('showing preferences', () => {
  it('lists every setting, each style, and the precedence', () => {
    expect(preferencesLines('en', current)).toEqual([
      'Model: `nano-banana-pro`',
      'Ratio: `16:9`',
      'Resolution: not set',
      'Suffix: `soft light`',
      'Styles (1 of 20):',
      '• `noir` `black and white`',
      'A request’s own options come first, then these, then the server’s settings, then the bot’s defaults.',
    ]);
    expect(preferencesLines('fr', {})).toEqual([
      'Modèle\u202F: non défini',
      'Format\u202F: non défini',
      'Résolution\u202F: non défini',
      'Suffixe\u202F: non défini',
      'Styles\u202F: aucun pour l’instant',
      'Les options de la demande passent en premier, puis celles-ci, puis les réglages du serveur, puis les valeurs par défaut du bot.',
    ]);
  });

  it('keeps a backtick from breaking out of the code span, and shortens long texts', () => {
    const lines = preferencesLines('en', {
      suffix: 'x'.repeat(200),
      styles: { long: `${'y'.repeat(80)}\`**bold**` },
    });
    expect(lines[3]).toBe(`Suffix: \`${'x'.repeat(149)}…\``);
    expect(lines[5]).toBe(`• \`long\` \`${'y'.repeat(49)}…\``);
    const ticked = preferencesLines('en', { suffix: 'a `tick`' });
    expect(ticked[3]).toBe('Suffix: `a ʼtickʼ`');
  });
});
