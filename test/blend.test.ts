import { describe, expect, it } from 'vitest';
import {
  blendPrompt,
  checkBlendImages,
  describeError,
  isNanoBananaError,
  parsePromptFlags,
  translate,
} from '../src/core/index.js';
import { createModelCatalog } from '../src/core/models.js';

/** The platform-free rules of a blend: the flag, how many images, the prompt when none is typed. */

const catalog = createModelCatalog();

function refusal(count: number) {
  try {
    checkBlendImages(count);
  } catch (error) {
    if (isNanoBananaError(error)) return error;
    throw error;
  }
  return undefined;
}

describe('--blend', () => {
  it('is a flag without a value, anywhere in the text, as phones type it too', () => {
    expect(parsePromptFlags('--blend two cats --ar 1:1', catalog)).toMatchObject({
      prompt: 'two cats',
      blend: true,
      aspectRatio: '1:1',
    });
    expect(parsePromptFlags('two cats —blend', catalog)).toMatchObject({
      prompt: 'two cats',
      blend: true,
    });
    expect(parsePromptFlags('two cats', catalog).blend).toBeUndefined();
  });

  it('takes 2 to 5 images, and refuses the rest with the counts', () => {
    for (const count of [2, 3, 4, 5]) expect(refusal(count)).toBeUndefined();
    for (const count of [0, 1, 6, 16]) {
      expect(refusal(count)).toMatchObject({
        code: 'invalid_input',
        params: { reason: 'blend_image_count', count, min: 2, max: 5 },
      });
    }
  });

  it('says what to do in English and French: add images, or leave some out', () => {
    const one = refusal(1);
    const six = refusal(6);
    expect(describeError(one, 'en')).toBe(
      'A blend needs 2 to 5 images, and I found 1. Add more and try again.',
    );
    expect(describeError(six, 'en')).toBe(
      'A blend needs 2 to 5 images, and I found 6. Leave some out and try again.',
    );
    expect(describeError(one, 'fr')).toBe(
      'Un mélange demande de 2 à 5 images, et j’en ai trouvé 1. Ajoutez-en et réessayez.',
    );
    expect(describeError(six, 'fr')).toBe(
      'Un mélange demande de 2 à 5 images, et j’en ai trouvé 6. Retirez-en quelques-unes et réessayez.',
    );
  });

  it('sends “blend these images” when nothing else is typed', () => {
    expect(blendPrompt('')).toBe('blend these images');
    expect(blendPrompt('  ')).toBe('blend these images');
    expect(blendPrompt('as one poster')).toBe('as one poster');
  });

  it('is in the help, in both languages', () => {
    expect(translate('en', 'help.body', {})).toContain('`--blend`');
    expect(translate('fr', 'help.body', {})).toContain('`--blend`');
  });
});
