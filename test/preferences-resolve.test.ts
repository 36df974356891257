import { describe, expect, it } from 'vitest';
import { NanoBananaError } from '../src/core/errors.js';
import { describeError } from '../src/core/messages.js';
import { createModelCatalog, parseExtraModels } from '../src/core/models.js';
import { appliedDefaultsNote } from '../src/core/preferences/applied-defaults-note.js';
import { type ResolveInput, resolveRequest } from '../src/core/preferences/resolve.js';

const catalog = createModelCatalog();

function resolve(overrides: Partial<ResolveInput> = {}) {
  return resolveRequest({
    action: 'generate',
    prompt: 'a white cat',
    options: {},
    preferences: {},
    server: {},
    defaultModel: 'nano-banana',
    catalog,
    ...overrides,
  });
}

function refusal(run: () => unknown): NanoBananaError {
  try {
    run();
  } catch (error) {
    if (error instanceof NanoBananaError) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('the precedence of defaults', () => {
  it('falls back to the operator default model and applies nothing when nothing is set', () => {
    const resolved = resolve();
    expect(resolved.options).toEqual({ model: 'nano-banana' });
    expect(resolved.prompt).toBe('a white cat');
    expect(resolved.appliedDefaults).toEqual([]);
  });

  it('takes the server settings over the operator default, and says so', () => {
    const resolved = resolve({
      server: { model: 'nano-banana-2', aspectRatio: '3:2', resolution: '2K' },
    });
    expect(resolved.options).toEqual({
      model: 'nano-banana-2',
      aspectRatio: '3:2',
      resolution: '2K',
    });
    expect(resolved.appliedDefaults).toEqual([
      { setting: 'model', source: 'server' },
      { setting: 'aspectRatio', source: 'server' },
      { setting: 'resolution', source: 'server' },
    ]);
  });

  it('takes personal preferences over the server settings, setting by setting', () => {
    const resolved = resolve({
      preferences: { model: 'nano-banana-pro', aspectRatio: '16:9' },
      server: { model: 'nano-banana-2', aspectRatio: '3:2', resolution: '2K' },
    });
    expect(resolved.options).toEqual({
      model: 'nano-banana-pro',
      aspectRatio: '16:9',
      resolution: '2K',
    });
    expect(resolved.appliedDefaults).toEqual([
      { setting: 'model', source: 'preferences' },
      { setting: 'aspectRatio', source: 'preferences' },
      { setting: 'resolution', source: 'server' },
    ]);
  });

  it('keeps what the request says over every default', () => {
    const resolved = resolve({
      options: { model: 'nano-banana-2', aspectRatio: '9:16', resolution: '4K', count: 3 },
      preferences: { model: 'nano-banana-pro', aspectRatio: '16:9', resolution: '2K' },
      server: { model: 'nano-banana', aspectRatio: '3:2', resolution: '1K' },
    });
    expect(resolved.options).toEqual({
      model: 'nano-banana-2',
      aspectRatio: '9:16',
      resolution: '4K',
      count: 3,
    });
    expect(resolved.appliedDefaults).toEqual([]);
  });

  it('keeps an explicit model even when the catalog does not know it (validation refuses it later)', () => {
    const resolved = resolve({
      options: { model: 'gpt-image' },
      preferences: { resolution: '2K' },
    });
    expect(resolved.options).toEqual({ model: 'gpt-image' });
    expect(resolved.appliedDefaults).toEqual([]);
  });

  it('skips a stored model the catalog no longer has, down to the next level', () => {
    const resolved = resolve({
      preferences: { model: 'retired-model' },
      server: { model: 'nano-banana-2' },
    });
    expect(resolved.options.model).toBe('nano-banana-2');
    expect(resolved.appliedDefaults).toEqual([{ setting: 'model', source: 'server' }]);
  });

  it('resolves a stored alias to the model id', () => {
    expect(resolve({ preferences: { model: 'pro' } }).options.model).toBe('nano-banana-pro');
  });

  it('skips a default resolution the chosen model cannot make, trying the next level', () => {
    // The member asks for the first model (1K only): their 4K preference cannot apply to it.
    const explicitModel = resolve({
      options: { model: 'nano-banana' },
      preferences: { resolution: '4K' },
      server: { resolution: '2K' },
    });
    expect(explicitModel.options).toEqual({ model: 'nano-banana' });
    expect(explicitModel.appliedDefaults).toEqual([]);

    // A model doing 1K and 2K: the member's 4K cannot apply, the server's 2K can.
    const extra = createModelCatalog(parseExtraModels('house-model=1K/2K'));
    const nextLevel = resolveRequest({
      action: 'generate',
      prompt: 'a cat',
      options: { model: 'house-model' },
      preferences: { resolution: '4K' },
      server: { resolution: '2K' },
      defaultModel: 'nano-banana',
      catalog: extra,
    });
    expect(nextLevel.options).toEqual({ model: 'house-model', resolution: '2K' });
    expect(nextLevel.appliedDefaults).toEqual([{ setting: 'resolution', source: 'server' }]);
  });

  it('keeps an explicit resolution the default model cannot make, for validation to refuse', () => {
    const resolved = resolve({ options: { resolution: '4K' } });
    expect(resolved.options).toEqual({ model: 'nano-banana', resolution: '4K' });
  });

  it('leaves an edit’s aspect ratio to the image being edited, but applies the model', () => {
    const resolved = resolve({
      action: 'edit',
      preferences: { model: 'nano-banana-2', aspectRatio: '16:9', resolution: '2K' },
    });
    expect(resolved.options).toEqual({ model: 'nano-banana-2', resolution: '2K' });
    expect(resolved.appliedDefaults).toEqual([
      { setting: 'model', source: 'preferences' },
      { setting: 'resolution', source: 'preferences' },
    ]);
    // An edit that says its ratio keeps it.
    expect(resolve({ action: 'edit', options: { aspectRatio: '1:1' } }).options.aspectRatio).toBe(
      '1:1',
    );
  });
});

describe('styles and the personal suffix', () => {
  const styles = { cinematic: 'dramatic lighting, 35mm film', ink: 'ink wash painting' };

  it('adds the suffix to every prompt and names it among the defaults', () => {
    const resolved = resolve({ preferences: { suffix: ' highly detailed ' } });
    expect(resolved.prompt).toBe('a white cat, highly detailed');
    expect(resolved.appliedDefaults).toEqual([{ setting: 'suffix', source: 'preferences' }]);
    expect(resolved.additions).toEqual([{ kind: 'suffix', text: 'highly detailed' }]);
  });

  it('expands a style, then adds the suffix', () => {
    const resolved = resolve({ style: 'cinematic', preferences: { styles, suffix: '4k' } });
    expect(resolved.prompt).toBe('a white cat, dramatic lighting, 35mm film, 4k');
    expect(resolved.additions.map((addition) => addition.kind)).toEqual(['style', 'suffix']);
  });

  it('joins after closing punctuation with a space only', () => {
    expect(resolve({ prompt: 'a white cat.', preferences: { suffix: 'Moody.' } }).prompt).toBe(
      'a white cat. Moody.',
    );
  });

  it('finds a style whatever its case', () => {
    expect(resolve({ style: 'INK', preferences: { styles } }).prompt).toBe(
      'a white cat, ink wash painting',
    );
  });

  it('refuses an unknown style, listing the member’s styles in their language', () => {
    const error = refusal(() => resolve({ style: 'noir', preferences: { styles } }));
    expect(error.code).toBe('invalid_input');
    expect(error.params).toEqual({
      reason: 'unknown_style',
      value: 'noir',
      valid: ['cinematic', 'ink'],
    });
    expect(describeError(error, 'en')).toBe(
      'You have no style called “noir”. Your styles: cinematic, ink.',
    );
    expect(describeError(error, 'fr')).toBe(
      'Vous n’avez pas de style «\u202Fnoir\u202F». Vos styles\u202F: cinematic, ink.',
    );
  });

  it('says so when the member has no style at all', () => {
    const error = refusal(() => resolve({ style: 'noir' }));
    expect(error.params.valid).toBeUndefined();
    expect(describeError(error, 'en')).toBe(
      'You have no style called “noir”: you have no saved styles yet.',
    );
  });

  it('does not take an inherited property for a style', () => {
    expect(() => resolve({ style: 'constructor', preferences: { styles } })).toThrow(
      NanoBananaError,
    );
  });

  it('adds nothing to a prompt copied from an earlier job', () => {
    const resolved = resolve({
      prompt: 'a white cat, dramatic lighting, 35mm film, 4k',
      style: 'cinematic',
      promptIsFinal: true,
      preferences: { styles, suffix: '4k' },
    });
    expect(resolved.prompt).toBe('a white cat, dramatic lighting, 35mm film, 4k');
    expect(resolved.appliedDefaults).toEqual([]);
    expect(resolved.additions).toEqual([]);
  });

  it('adds nothing to an empty prompt, so that it is refused as one', () => {
    const resolved = resolve({ prompt: '  ', style: 'ink', preferences: { styles, suffix: 'x' } });
    expect(resolved.prompt.trim()).toBe('');
  });
});

describe('the note on a result', () => {
  it('names each default and where it came from, in English and French', () => {
    const applied = [
      { setting: 'model', source: 'preferences' },
      { setting: 'aspectRatio', source: 'server' },
      { setting: 'suffix', source: 'preferences' },
    ] as const;
    expect(appliedDefaultsNote('en', applied, 'server')).toBe(
      'Defaults used: model from your preferences, ratio from the server’s settings, suffix from your preferences.',
    );
    expect(appliedDefaultsNote('en', applied, 'workspace')).toContain(
      'ratio from the workspace’s settings',
    );
    expect(appliedDefaultsNote('fr', applied, 'server')).toBe(
      'Réglages par défaut appliqués\u202F: modèle de vos préférences, format des réglages du serveur, suffixe de vos préférences.',
    );
  });

  it('is absent when the request said everything', () => {
    expect(appliedDefaultsNote('en', [], 'server')).toBeUndefined();
    expect(appliedDefaultsNote('en', undefined, 'server')).toBeUndefined();
  });
});
