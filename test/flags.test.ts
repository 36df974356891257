import { describe, expect, it } from 'vitest';
import { NanoBananaError } from '../src/core/errors.js';
import { FLAG_NAMES, parsePromptFlags, toImageRequest } from '../src/core/flags.js';
import { ASPECT_RATIOS, createModelCatalog, RESOLUTIONS } from '../src/core/models.js';

const catalog = createModelCatalog();

function parse(text: string) {
  return parsePromptFlags(text, catalog);
}

/** The error `parse` throws, so its code and params can be checked. */
function parseError(text: string): NanoBananaError {
  try {
    parse(text);
  } catch (error) {
    if (error instanceof NanoBananaError) return error;
    throw error;
  }
  throw new Error(`expected "${text.slice(0, 80)}" to be refused`);
}

describe('parsePromptFlags', () => {
  it('reads every flag and leaves the prompt', () => {
    expect(parse('a white cat --ar 16:9 --model pro --res 2K --count 2')).toEqual({
      prompt: 'a white cat',
      model: 'nano-banana-pro',
      aspectRatio: '16:9',
      resolution: '2K',
      count: 2,
      help: false,
      usage: false,
      history: false,
    });
  });

  it('returns just the prompt when there are no flags', () => {
    expect(parse('  a white   cat  ')).toEqual({
      prompt: 'a white   cat',
      help: false,
      usage: false,
      history: false,
    });
  });

  it.each([
    ['--model pro', { model: 'nano-banana-pro' }],
    ['--m lite', { model: 'nano-banana-2-lite' }],
    ['--model banana', { model: 'nano-banana' }],
    ['--model 2', { model: 'nano-banana-2' }],
    ['--model nano-banana-pro:official', { model: 'nano-banana-pro:official' }],
    ['--ar 9:16', { aspectRatio: '9:16' }],
    ['--aspect 3:2', { aspectRatio: '3:2' }],
    ['--aspect-ratio 4:3', { aspectRatio: '4:3' }],
    ['--aspect_ratio 3:4', { aspectRatio: '3:4' }],
    ['--res 4K', { resolution: '4K' }],
    ['--resolution 1K', { resolution: '1K' }],
    ['--count 3', { count: 3 }],
    ['--n 4', { count: 4 }],
    ['--help', { help: true }],
    ['--usage', { usage: true }],
  ])('reads %s', (flags, expected) => {
    expect(parse(`a cat ${flags}`)).toMatchObject({ prompt: 'a cat', ...expected });
  });

  it('reads the = form', () => {
    expect(parse('a cat --ar=16:9 --model=pro --res=2k --count=2')).toMatchObject({
      prompt: 'a cat',
      model: 'nano-banana-pro',
      aspectRatio: '16:9',
      resolution: '2K',
      count: 2,
    });
  });

  it('reads dashes as phones type them', () => {
    expect(parse('a cat —ar 16:9 –model pro —-res 2K –-count 2 —help')).toMatchObject({
      prompt: 'a cat',
      model: 'nano-banana-pro',
      aspectRatio: '16:9',
      resolution: '2K',
      count: 2,
      help: true,
    });
  });

  it('ignores the case of flag names and values', () => {
    expect(parse('a cat --AR 16X9 --Model PRO --RES 2k --Count 1 --HELP')).toMatchObject({
      prompt: 'a cat',
      model: 'nano-banana-pro',
      aspectRatio: '16:9',
      resolution: '2K',
      count: 1,
      help: true,
    });
  });

  it('takes flags at the start and in the middle', () => {
    expect(parse('--ar 16:9 a white cat')).toMatchObject({
      prompt: 'a white cat',
      aspectRatio: '16:9',
    });
    expect(parse('a white --model pro cat on a mat')).toMatchObject({
      prompt: 'a white cat on a mat',
      model: 'nano-banana-pro',
    });
  });

  it('gives an empty prompt when there are only flags', () => {
    expect(parse('--help')).toEqual({ prompt: '', help: true, usage: false, history: false });
  });

  it('keeps the text between flags as typed and joins across removed flags', () => {
    expect(parse('a  cat,\n\twith a hat --ar 1:1 and   boots')).toMatchObject({
      prompt: 'a  cat,\n\twith a hat and   boots',
    });
    expect(parse('first line\n--ar 1:1\nsecond line')).toMatchObject({
      prompt: 'first line\nsecond line',
    });
  });

  it('lets the last of a repeated flag win', () => {
    expect(parse('cat --ar 1:1 --ar 16:9')).toMatchObject({ aspectRatio: '16:9' });
  });

  it('normalises ratio separators before validating', () => {
    for (const written of ['16x9', '16X9', '16/9', '16×9', '16:9']) {
      expect(parse(`cat --ar ${written}`).aspectRatio).toBe('16:9');
    }
    expect(parseError('cat --ar 16x10').params).toMatchObject({
      reason: 'unknown_aspect_ratio',
      value: '16x10',
    });
  });

  it('leaves dashes inside words and URLs alone', () => {
    expect(parse('a well--known cat')).toEqual({
      prompt: 'a well--known cat',
      help: false,
      usage: false,
      history: false,
    });
    expect(parse('like https://x.com/a--b --ar 1:1')).toMatchObject({
      prompt: 'like https://x.com/a--b',
      aspectRatio: '1:1',
    });
    expect(parse('a cat — a dog -- and -- 5 --> arrows ---').prompt).toBe(
      'a cat — a dog -- and -- 5 --> arrows ---',
    );
    expect(parse('a cat—cute (--ar) --ar, done').prompt).toBe('a cat—cute (--ar) --ar, done');
  });

  it('refuses an unknown flag with the valid ones, without guessing', () => {
    for (const text of ['a cat --foo', 'a cat --foo=bar', 'a cat —aspec 16:9', 'a cat --H']) {
      const error = parseError(text);
      expect(error.code).toBe('invalid_input');
      expect(error.params.reason).toBe('unknown_flag');
      expect(error.params.valid).toEqual(FLAG_NAMES);
    }
    expect(parseError('a cat --foo').params.flag).toBe('--foo');
    expect(parseError('a cat —Aspec 16:9').params.flag).toBe('--aspec');
  });

  it('refuses a flag without its value', () => {
    for (const [text, flag] of [
      ['a cat --ar', '--ar'],
      ['a cat --ar   ', '--ar'],
      ['a cat --ar --model pro', '--ar'],
      ['a cat --model —res 2K', '--model'],
      ['a cat --count=', '--count'],
      ['a cat --aspect', '--aspect'],
    ] as const) {
      const error = parseError(text);
      expect(error.params).toEqual({ reason: 'missing_flag_value', flag });
    }
  });

  it('lists the valid values with each bad value', () => {
    expect(parseError('cat --model gpt').params).toEqual({
      reason: 'unknown_model',
      value: 'gpt',
      valid: catalog.modelIds,
    });
    expect(parseError('cat --ar 5:4').params).toEqual({
      reason: 'unknown_aspect_ratio',
      value: '5:4',
      valid: ASPECT_RATIOS,
    });
    expect(parseError('cat --res 8k').params).toEqual({
      reason: 'unknown_resolution',
      value: '8k',
      valid: RESOLUTIONS,
    });
    for (const count of ['0', '5', '2.5', 'two', '-1', '1e1', '99999999999']) {
      expect(parseError(`cat --count ${count}`).params).toEqual({
        reason: 'count_out_of_range',
        value: count,
        min: 1,
        max: 4,
      });
    }
  });

  it('finds models added by configuration', () => {
    const extended = createModelCatalog([
      { id: 'my-model', aliases: ['mine'], resolutions: ['1K'], label: 'Mine' },
    ]);
    expect(parsePromptFlags('cat --model mine', extended).model).toBe('my-model');
  });

  it('does not check model against resolution or the prompt length', () => {
    expect(parse(`${'x'.repeat(50_000)} --model banana --res 4K`)).toMatchObject({
      model: 'nano-banana',
      resolution: '4K',
    });
  });

  it('cuts a huge bad value in the error', () => {
    const error = parseError(`cat --model ${'m'.repeat(10_000)}`);
    expect(String(error.params.value).length).toBeLessThanOrEqual(101);
  });

  it('strips zero-width characters', () => {
    expect(parse('a\u200B cat --\u200Bar 16:9\uFEFF --mo\u200Ddel\u2060 pro\u200C')).toMatchObject({
      prompt: 'a cat',
      aspectRatio: '16:9',
      model: 'nano-banana-pro',
    });
  });

  it('keeps joiners inside emoji and scripts that need them', () => {
    const family = '👨\u200D👩\u200D👧';
    const persian = 'می\u200Cخواهم';
    expect(parse(`${family} ${persian} --ar 1:1`).prompt).toBe(`${family} ${persian}`);
  });

  it('turns control characters into spaces but keeps line breaks and tabs', () => {
    expect(parse('a\u0000cat\tand\u0007--ar 1:1\u001B\tdog\r\nbird\rfish\u009B')).toMatchObject({
      prompt: 'a cat\tand dog\nbird\nfish',
      aspectRatio: '1:1',
    });
  });

  it('parses a 100,000-character prompt with flags', () => {
    const words = Array.from({ length: 20_000 }, (_, index) => `w${index % 100}`).join(' ');
    const text = `--ar 16:9 ${words} --model pro ${'-'.repeat(10_000)} ${'--a'.repeat(10_000)}x=`;
    expect(text.length).toBeGreaterThan(100_000);
    expect(parseError(text).params.reason).toBe('unknown_flag');
    const parsed = parse(`--ar 16:9 ${words} --model pro ${'—'.repeat(30_000)}`);
    expect(parsed.model).toBe('nano-banana-pro');
    expect(parsed.prompt.startsWith('w0 w1 ')).toBe(true);
    expect(parsed.prompt.endsWith('—'.repeat(30_000))).toBe(true);
  });

  it('throws nothing but NanoBananaError on random input', () => {
    // A seeded generator (mulberry32) so a failure can be reproduced.
    let seed = 20_240_601;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let value = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      value = (value + Math.imul(value ^ (value >>> 7), 61 | value)) ^ value;
      return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
    };
    const pieces = [
      ...['--', '—', '–', '-', '=', ' ', '\n', '\t', '\u200B', '\u200D', '\u0000', '\uD83D'],
      ...['ar', 'model', 'res', 'count', 'n', 'm', 'help', 'usage', 'foo', 'x', ':', '16', '9'],
      ...['pro', '2k', '4K', 'lite', '1', '5', '__proto__', 'constructor', '👨', 'é', '{', '"'],
    ];
    let refused = 0;
    for (let iteration = 0; iteration < 2_000; iteration++) {
      const length = Math.floor(random() * 30);
      let text = '';
      for (let piece = 0; piece < length; piece++) {
        text += pieces[Math.floor(random() * pieces.length)] ?? '';
      }
      try {
        const parsed = parse(text);
        expect(typeof parsed.prompt).toBe('string');
      } catch (error) {
        expect(error, JSON.stringify(text)).toBeInstanceOf(NanoBananaError);
        refused++;
      }
    }
    // The generator must exercise both paths, or the loop proves little.
    expect(refused).toBeGreaterThan(20);
    expect(refused).toBeLessThan(1_900);
  });
});

describe('toImageRequest', () => {
  const limits = { catalog, defaultModel: 'nano-banana', maxPromptLength: 100 };

  it('validates the parsed flags with the request rules', () => {
    const parsed = parse('a cat --model pro --res 2K --ar 16x9 --count 2');
    expect(toImageRequest(parsed, limits)).toEqual({
      action: 'generate',
      prompt: 'a cat',
      model: 'nano-banana-pro',
      imageUrls: [],
      aspectRatio: '16:9',
      resolution: '2K',
      count: 2,
    });
    expect(
      toImageRequest(parse('make it blue'), limits, { imageUrls: ['https://example.com/a.png'] }),
    ).toMatchObject({ action: 'edit', model: 'nano-banana' });
  });

  it('applies the checks the parser leaves out', () => {
    const tooHigh = () => toImageRequest(parse('a cat --model banana --res 2K'), limits);
    expect(tooHigh).toThrow(
      expect.objectContaining({
        params: expect.objectContaining({ reason: 'resolution_not_supported' }),
      }),
    );
    const tooLong = () => toImageRequest(parse(`${'x'.repeat(101)} --ar 1:1`), limits);
    expect(tooLong).toThrow(
      expect.objectContaining({ params: expect.objectContaining({ reason: 'prompt_too_long' }) }),
    );
    expect(() => toImageRequest(parse('--help'), limits)).toThrow(
      expect.objectContaining({ params: { reason: 'empty_prompt' } }),
    );
  });
});
