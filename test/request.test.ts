import { describe, expect, it } from 'vitest';
import { INPUT_PROBLEMS, type InputProblem, NanoBananaError } from '../src/core/errors.js';
import { createModelCatalog, outputSize, parseExtraModels } from '../src/core/models.js';
import { type ImageRequestInput, validateRequest } from '../src/core/request.js';

const catalog = createModelCatalog();
const limits = { catalog, defaultModel: 'nano-banana', maxPromptLength: 50 };

function problem(input: ImageRequestInput): {
  reason: InputProblem;
  params: Record<string, unknown>;
} {
  try {
    validateRequest(input, limits);
  } catch (error) {
    expect(error).toBeInstanceOf(NanoBananaError);
    const failure = error as NanoBananaError;
    expect(failure.code).toBe('invalid_input');
    expect(INPUT_PROBLEMS).toContain(failure.params.reason);
    return { reason: failure.params.reason as InputProblem, params: failure.params };
  }
  throw new Error('expected the request to be refused');
}

describe('validateRequest', () => {
  it('accepts a plain prompt with the default model and leaves optional fields out', () => {
    expect(validateRequest({ prompt: '  a cat  ' }, limits)).toEqual({
      action: 'generate',
      prompt: 'a cat',
      model: 'nano-banana',
      imageUrls: [],
    });
  });

  it('resolves aliases, normalises the resolution and infers an edit from images', () => {
    const request = validateRequest(
      {
        prompt: 'x',
        model: 'PRO',
        resolution: '4k',
        imageUrls: ['https://a.example/x.png'],
        count: 4,
      },
      limits,
    );
    expect(request).toMatchObject({
      action: 'edit',
      model: 'nano-banana-pro',
      resolution: '4K',
      count: 4,
    });
  });

  it('refuses an empty or whitespace prompt', () => {
    expect(problem({ prompt: '' }).reason).toBe('empty_prompt');
    expect(problem({ prompt: ' \n\t ' }).reason).toBe('empty_prompt');
  });

  it('refuses a prompt over the limit, counting characters not UTF-16 units', () => {
    expect(problem({ prompt: 'x'.repeat(51) })).toMatchObject({
      reason: 'prompt_too_long',
      params: { length: 51, max: 50 },
    });
    expect(validateRequest({ prompt: '🍌'.repeat(50) }, limits).prompt).toHaveLength(100);
  });

  it('lists the valid values for an unknown model, ratio or resolution', () => {
    const model = problem({ prompt: 'x', model: 'dall-e' });
    expect(model.reason).toBe('unknown_model');
    expect(model.params.valid).toContain('nano-banana-pro');
    expect(problem({ prompt: 'x', aspectRatio: '5:4' }).params.valid).toEqual([
      '1:1',
      '3:2',
      '2:3',
      '16:9',
      '9:16',
      '4:3',
      '3:4',
    ]);
    expect(problem({ prompt: 'x', resolution: '8K' }).params.valid).toEqual(['1K', '2K', '4K']);
  });

  it('refuses a resolution above 1K on a model that only does 1K', () => {
    expect(problem({ prompt: 'x', model: 'nano-banana', resolution: '2K' })).toMatchObject({
      reason: 'resolution_not_supported',
      params: { model: 'nano-banana', valid: ['1K'] },
    });
    expect(problem({ prompt: 'x', model: 'lite', resolution: '4K' }).reason).toBe(
      'resolution_not_supported',
    );
  });

  it('refuses a count outside 1-4', () => {
    for (const count of [0, 5, 1.5, -1, Number.NaN]) {
      expect(problem({ prompt: 'x', count }).reason).toBe('count_out_of_range');
    }
  });

  it('refuses an edit without images, more than 16 images, and URLs that are not images', () => {
    expect(problem({ prompt: 'x', action: 'edit' }).reason).toBe('edit_without_images');
    const urls = Array.from({ length: 17 }, (_, index) => `https://a.example/${index}.png`);
    expect(problem({ prompt: 'x', imageUrls: urls })).toMatchObject({
      reason: 'too_many_images',
      params: { count: 17, max: 16 },
    });
    expect(problem({ prompt: 'x', imageUrls: ['file:///etc/passwd'] }).reason).toBe(
      'bad_image_url',
    );
    expect(problem({ prompt: 'x', imageUrls: ['data:text/html;base64,AAAA'] }).reason).toBe(
      'bad_image_url',
    );
  });
});

describe('the model table', () => {
  it('has every base model, its :official variant and the short names', () => {
    expect(catalog.find('banana')?.id).toBe('nano-banana');
    expect(catalog.find('2')?.id).toBe('nano-banana-2');
    expect(catalog.find('lite')?.id).toBe('nano-banana-2-lite');
    expect(catalog.find('pro')?.id).toBe('nano-banana-pro');
    expect(catalog.find('nano-banana-pro:official')?.resolutions).toEqual(['1K', '2K', '4K']);
  });

  it('is extended by configuration, which may also redefine a model', () => {
    const extended = createModelCatalog(parseExtraModels('nano-banana-3=1K/2K, nano-banana=1K/2K'));
    expect(extended.find('nano-banana-3')?.resolutions).toEqual(['1K', '2K']);
    expect(extended.find('banana')?.resolutions).toEqual(['1K', '2K']);
    expect(extended.modelIds.filter((id) => id === 'nano-banana')).toHaveLength(1);
    expect(() => parseExtraModels('x=8K')).toThrow(/resolution/);
    expect(() => parseExtraModels('bad name')).toThrow(/model name/);
  });

  it('knows the output sizes from the contract, portrait turned', () => {
    expect(outputSize('nano-banana', '3:2', '1K')).toEqual({ width: 1248, height: 832 });
    expect(outputSize('nano-banana-pro', '16:9', '2K')).toEqual({ width: 2752, height: 1536 });
    expect(outputSize('nano-banana-2', '9:16', '4K')).toEqual({ width: 3072, height: 5504 });
    expect(outputSize('nano-banana-2', '3:4', '1K')).toEqual({ width: 896, height: 1200 });
  });
});
