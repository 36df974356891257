import { describe, expect, it } from 'vitest';
import { ERROR_CODES, INPUT_PROBLEMS, invalidInput, NanoBananaError } from '../src/core/errors.js';
import { FLAG_NAMES, parsePromptFlags } from '../src/core/flags.js';
import { JOB_STATES } from '../src/core/jobs/job.js';
import {
  describeError,
  errorMessageKey,
  LOCALES,
  type MessageKey,
  messageKeys,
  resolveLocale,
  translate,
} from '../src/core/messages.js';
import { ASPECT_RATIOS, createModelCatalog, RESOLUTIONS } from '../src/core/models.js';

/** Every parameter any template uses, with values a front end would pass. */
const FULL_PARAMS = {
  who: '<@42>',
  where: '<#7>',
  word: 'forbidden',
  length: 5000,
  max: 4000,
  min: 1,
  value: 'gpt-image',
  valid: ['nano-banana', 'nano-banana-pro'],
  model: 'nano-banana',
  count: 20,
  flag: '--foo',
  name: 'cat.png',
  traceId: 'trace-123',
  retryAfterSeconds: 30,
  position: 3,
  elapsed: 75,
  format: 'JPEG',
  delivered: 2,
  requested: 4,
  missing: 1,
  images: 5,
  command: '/imagine',
  models: ['nano-banana', 'nano-banana-2'],
  scope: 'user',
  limit: 10,
  mention: '<@42>',
  number: 2,
  resolution: '4K',
  parent: 'https://discord.com/channels/1/2/3',
  added: 120,
  source: 'style',
  setting: 'model',
  place: 'server',
  list: ['model from your preferences'],
} as const;

/** Keys whose English and French texts may be the same. None so far; add with a reason. */
const SAME_IN_BOTH: ReadonlySet<MessageKey> = new Set<MessageKey>([]);

const ENGLISH_KEYS = allKeys();

/** The error keys plus the UI keys the adapters use; checked against the tables below. */
function allKeys(): MessageKey[] {
  const errorKeys = ERROR_CODES.map((code) => errorMessageKey(new NanoBananaError(code, 'x')));
  const inputKeys = INPUT_PROBLEMS.map((problem) => errorMessageKey(invalidInput(problem, 'x')));
  const uiKeys: MessageKey[] = [
    'error.trace_id',
    'job.queued',
    'job.started',
    'job.running',
    'job.done',
    'job.cancelled',
    'job.result_converted',
    'job.result_scaled',
    'job.fewer_images',
    'job.images_missing',
    'defaults.note',
    'defaults.from_preferences',
    'defaults.from_server',
    'defaults.setting.model',
    'defaults.setting.aspectRatio',
    'defaults.setting.resolution',
    'defaults.setting.suffix',
    'prefer.title',
    'prefer.setting',
    'prefer.unset',
    'prefer.styles',
    'prefer.no_styles',
    'prefer.precedence',
    'prefer.saved',
    'prefer.style_saved',
    'prefer.style_removed',
    'prefer.nothing_to_set',
    'help.title',
    'help.body',
    'button.reroll',
    'button.edit',
    'button.delete',
    'button.cancel',
    'button.upscale',
    'button.vary',
    'button.edit_image',
    'result.upscale_note',
    'result.from_parent',
    'usage.remaining',
    'usage.unlimited',
    'usage.week',
    'batch.queued',
    'history.title',
    'history.empty',
    'history.retention',
    'history.result',
    ...JOB_STATES.map((state): MessageKey => `history.state.${state}`),
    'settings.model',
    'settings.aspect_ratio',
    'settings.resolution',
    'settings.channels',
    'settings.daily_limit',
    'settings.audit_channel',
    'settings.private_results',
    'settings.threads',
    'settings.unset',
    'settings.all_channels',
    'settings.none',
    'settings.yes',
    'settings.no',
    'settings.limit_none',
    'settings.limit_images',
    'settings.saved',
    'job.paused',
    'job.timeout_notice',
    'job.expired_token_notice',
    'audit.accepted',
    'audit.private',
    'audit.done',
    'audit.failed',
    'audit.cancelled',
    'audit.undelivered',
    'audit.refused',
  ];
  const operatorKeys = ERROR_CODES.map((code) =>
    errorMessageKey(new NanoBananaError(code, 'x'), 'operator'),
  );
  return [...new Set([...errorKeys, ...inputKeys, ...uiKeys, ...operatorKeys])];
}

function expectClean(text: string, context: string): void {
  expect(text.trim(), context).not.toBe('');
  expect(outsideCode(text), context).not.toMatch(/[{}]|undefined|NaN|null|\[object /);
}

/** The text without its `code` spans: braces there are the batch syntax (`{red, blue}`), shown as typed. */
function outsideCode(text: string): string {
  return text.replace(/`[^`\n]*`/g, '');
}

describe('resolveLocale', () => {
  it.each([
    ['fr', 'fr'],
    ['fr-FR', 'fr'],
    ['fr_CA', 'fr'],
    ['FR-be', 'fr'],
    [' fr ', 'fr'],
    ['en', 'en'],
    ['en-US', 'en'],
    ['de', 'en'],
    ['french', 'en'],
    ['', 'en'],
    [undefined, 'en'],
    [null, 'en'],
  ])('%s → %s', (tag, locale) => {
    expect(resolveLocale(tag)).toBe(locale);
  });
});

describe('the catalogue', () => {
  it('has an English and a French text for every error code and input problem', () => {
    for (const code of ERROR_CODES) {
      expect(errorMessageKey(new NanoBananaError(code, 'x'))).toMatch(/^error\./);
    }
    for (const problem of INPUT_PROBLEMS) {
      expect(errorMessageKey(invalidInput(problem, 'x'))).toBe(`input.${problem}`);
    }
    for (const key of ENGLISH_KEYS) {
      const english = translate('en', key, FULL_PARAMS);
      const french = translate('fr', key, FULL_PARAMS);
      expectClean(english, `en ${key}`);
      expectClean(french, `fr ${key}`);
      if (!SAME_IN_BOTH.has(key)) expect(french, key).not.toBe(english);
    }
  });

  it('has the same keys in both languages', () => {
    // The type forces this at compile time; this checks the tables as they are at run time.
    const english = [...messageKeys('en')].sort();
    expect([...messageKeys('fr')].sort()).toEqual(english);
    expect([...ENGLISH_KEYS].sort()).toEqual(english);
  });

  it('uses the same placeholders in both languages', () => {
    // A placeholder is detected by rendering with a marker value for one parameter at a time.
    for (const key of ENGLISH_KEYS) {
      for (const name of Object.keys(FULL_PARAMS)) {
        const marked = { ...FULL_PARAMS, [name]: 'MARKER' };
        const inEnglish = translate('en', key, marked).includes('MARKER');
        const inFrench = translate('fr', key, marked).includes('MARKER');
        expect(inFrench, `${key} {${name}}`).toBe(inEnglish);
      }
    }
  });

  it('renders missing parameters as nothing, never as undefined', () => {
    for (const locale of LOCALES) {
      for (const key of ENGLISH_KEYS) {
        expect(outsideCode(translate(locale, key)), `${locale} ${key}`).not.toMatch(
          /[{}]|undefined|NaN|null|\[object /,
        );
      }
    }
  });

  it('ignores parameters of the wrong type', () => {
    const odd = { value: { nested: true }, valid: [1, {}], max: Number.NaN } as unknown as Record<
      string,
      string
    >;
    for (const locale of LOCALES) {
      expectClean(translate(locale, 'input.unknown_model', odd), locale);
      expectClean(translate(locale, 'input.image_too_large', odd), locale);
    }
  });

  it('joins lists with commas', () => {
    expect(
      translate('en', 'input.unknown_aspect_ratio', { value: '5:4', valid: ASPECT_RATIOS }),
    ).toBe(`“5:4” isn’t a supported aspect ratio. Use one of: ${ASPECT_RATIOS.join(', ')}.`);
  });

  it('cuts a very long parameter', () => {
    const text = translate('en', 'input.unknown_model', { value: 'x'.repeat(10_000) });
    expect(text.length).toBeLessThan(400);
  });

  it('follows French typography', () => {
    for (const key of ENGLISH_KEYS) {
      const french = translate('fr', key, FULL_PARAMS);
      // A narrow no-break space before : ; ! ? » and after «, never a plain or missing one.
      expect(french, key).not.toMatch(/[^\u202F][;!?»]|[^\u202F]:(\s|$)|«[^\u202F]/);
      expect(french, key).not.toContain("'");
    }
    expect(translate('fr', 'input.unknown_flag', { flag: '--foo', valid: FLAG_NAMES })).toBe(
      `Je ne connais pas l’option --foo. Options valides\u202F: ${FLAG_NAMES.join(', ')}.`,
    );
  });

  it('formats numbers, durations, sizes and plurals per language', () => {
    expect(translate('en', 'input.prompt_too_long', { length: 12_345, max: 4000 })).toBe(
      'Your prompt is too long: 12,345 characters, the limit is 4,000.',
    );
    expect(translate('fr', 'input.prompt_too_long', { length: 12_345, max: 4000 })).toContain(
      '12\u202F345 caractères',
    );
    expect(translate('en', 'job.done', { elapsed: 75 })).toBe('Done in 1m 15s.');
    expect(translate('fr', 'job.done', { elapsed: 9.6 })).toBe('Terminé en 10\u202Fs.');
    expect(translate('en', 'job.running', { elapsed: '2 minutes' })).toBe(
      'Still working… (2 minutes)',
    );
    expect(translate('en', 'input.image_too_large', { name: 'a.png', max: 10_485_760 })).toBe(
      '“a.png” is too large (the limit is 10 MB).',
    );
    expect(translate('fr', 'input.image_too_large', { max: 10_485_760 })).toBe(
      'Une des images fournies est trop lourde (10\u202FMo au maximum).',
    );
    expect(translate('en', 'usage.remaining', { images: 1 })).toBe('You have 1 image left.');
    expect(translate('en', 'usage.remaining', { images: 0 })).toBe('You have no images left.');
    expect(translate('fr', 'usage.remaining', { images: 1 })).toBe('Il vous reste 1 image.');
    expect(translate('fr', 'usage.remaining', { images: 3 })).toBe('Il vous reste 3 images.');
    expect(translate('fr', 'job.fewer_images', { delivered: 1, requested: 4 })).toMatch(
      /^Seule 1 image sur les 4 demandées a été produite/,
    );
    expect(translate('en', 'job.queued', { position: 1 })).toBe('Queued: you’re next.');
    expect(translate('en', 'job.queued', { position: 4 })).toBe('Queued: you’re number 4 in line.');
  });

  it('falls back to English for unknown locales', () => {
    expect(translate('de-DE', 'button.cancel')).toBe('Cancel');
    expect(translate(undefined, 'button.cancel')).toBe('Cancel');
    expect(translate('fr-CA', 'button.cancel')).toBe('Annuler');
  });

  it('lists the flags and values in the help', () => {
    const help = translate('en', 'help.body', { models: ['nano-banana', 'nano-banana-pro'] });
    for (const flag of ['--model', '--ar', '--res', '--count']) expect(help).toContain(flag);
    for (const value of [...ASPECT_RATIOS, ...RESOLUTIONS, 'nano-banana-pro']) {
      expect(help).toContain(value);
    }
    expect(translate('fr', 'help.body')).toContain('/imagine');
  });
});

describe('describeError', () => {
  it('renders an input problem with its valid values', () => {
    const catalog = createModelCatalog();
    let error: unknown;
    try {
      parsePromptFlags('a cat --model gpt', catalog);
    } catch (caught) {
      error = caught;
    }
    const english = describeError(error, 'en');
    expect(english).toContain('“gpt”');
    expect(english).toContain(catalog.modelIds.join(', '));
    expect(describeError(error, 'fr')).toContain(`«\u202Fgpt\u202F»`);
  });

  it('adds the trace id in both languages', () => {
    const error = new NanoBananaError('moderation_blocked', 'forbidden', { traceId: 'abc-123' });
    expect(describeError(error, 'en')).toBe(
      'The safety filter refused this one, so nothing was billed. Try rewording your prompt. (trace id: abc-123)',
    );
    expect(describeError(error, 'fr-FR')).toMatch(/ \(identifiant de trace\u202F: abc-123\)$/);
    expect(describeError(new NanoBananaError('timeout', 'x'), 'en')).not.toContain('trace');
  });

  it('mentions when to retry when the service said so', () => {
    const error = new NanoBananaError('rate_limited', '429', { retryAfterMs: 29_500 });
    expect(describeError(error, 'en')).toBe('The image service is busy. Try again in about 30s.');
  });

  it('uses the generic text for an invalid_input without a known reason', () => {
    const error = new NanoBananaError('invalid_input', 'x', { params: { reason: 'nonsense' } });
    expect(errorMessageKey(error)).toBe('error.invalid_input');
  });

  it('speaks to the operator about settings, while chat users keep their wording', () => {
    const refused = new NanoBananaError('auth_failed', '401', { traceId: 't-1' });
    const usedUp = new NanoBananaError('balance_used_up', 'used_up');
    // Chat users: unchanged.
    expect(describeError(refused, 'en')).toBe(
      'The bot’s API key is misconfigured. Please tell an admin. (trace id: t-1)',
    );
    expect(describeError(refused, 'en', { audience: 'user' })).toBe(describeError(refused, 'en'));
    expect(describeError(usedUp, 'en')).toBe(
      'The bot has used up its image credits. Ask an admin to top up.',
    );
    // The operator: the setting is named, nobody is asked to tell an admin.
    const forOperator = describeError(refused, 'en', { audience: 'operator' });
    expect(forOperator).toContain('ACEDATA_API_TOKEN');
    expect(forOperator).toMatch(/\(trace id: t-1\)$/);
    expect(forOperator).not.toMatch(/admin/i);
    expect(describeError(usedUp, 'en', { audience: 'operator' })).toMatch(/no credits left/);
    expect(describeError(refused, 'fr', { audience: 'operator' })).toMatch(
      /^L’API a refusé ACEDATA_API_TOKEN/,
    );
    // A code without an operator text falls back to the users' one.
    const blocked = new NanoBananaError('moderation_blocked', 'x');
    expect(describeError(blocked, 'en', { audience: 'operator' })).toBe(
      describeError(blocked, 'en'),
    );
    expect(errorMessageKey(refused, 'operator')).toBe('operator.error.auth_failed');
    expect(errorMessageKey(refused)).toBe('error.auth_failed');
  });

  it('never shows a stack, a message or [object Object] for other errors', () => {
    const generic = translate('en', 'error.upstream_error');
    const hostile = {
      get message(): string {
        throw new Error('boom');
      },
    };
    for (const thrown of [
      new Error('secret internal detail'),
      new TypeError('x is undefined'),
      'a string',
      { some: 'object' },
      Object.create(null),
      hostile,
      null,
      undefined,
      42,
    ]) {
      expect(describeError(thrown)).toBe(generic);
    }
    expect(describeError(new Error('x'), 'fr')).toBe(translate('fr', 'error.upstream_error'));
    const abort = new Error('aborted');
    abort.name = 'AbortError';
    expect(describeError(abort, 'en')).toBe('Cancelled.');
  });
});
