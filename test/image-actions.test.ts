import { describe, expect, it } from 'vitest';
import {
  describeError,
  displayPrompt,
  imageActionId,
  imageActionRequest,
  type Job,
  parseImageActionId,
  resultImageUrl,
  translate,
  upscaleChoices,
} from '../src/core/index.js';
import { createModelCatalog, parseExtraModels } from '../src/core/models.js';

/** The core of the per-image actions: their ids, their upscale choices, the request they make. */

const catalog = createModelCatalog(parseExtraModels('only-2k=1K/2K'));

function parent(fields: Partial<Job> = {}): Job {
  return {
    id: 'Parent_Job-1',
    platform: 'discord',
    dedupKey: 'discord:interaction:1',
    requesterId: 'alice',
    serverId: 'guild',
    channelId: 'channel',
    locale: 'en-US',
    requesterIsAdmin: false,
    action: 'generate',
    prompt: 'two foxes --style ink',
    options: { model: 'nano-banana', aspectRatio: '16:9', count: 2 },
    inputs: [],
    destination: {},
    parentJobId: undefined,
    state: 'done',
    createdAt: 0,
    updatedAt: 0,
    startedAt: 0,
    finishedAt: 0,
    taskId: 'task',
    traceId: undefined,
    callbackToken: 'token',
    reservedImages: 0,
    quotaDay: '2026-12-06',
    result: {
      images: [{ url: 'https://cdn.example/1.png' }, { url: 'https://cdn.example/2.png' }],
    },
    error: undefined,
    delivery: undefined,
    deliveryAttempts: 1,
    timeoutNotified: false,
    ...fields,
  };
}

const presser = {
  dedupKey: 'discord:interaction:2',
  requesterId: 'bob',
  serverId: 'guild',
  channelId: 'channel',
  locale: 'fr',
};
const context = { catalog, upscaleModel: 'nano-banana-2', maxPromptLength: 4000 };

describe('per-image action ids', () => {
  it('are versioned, fit Discord’s 100 characters, and read back', () => {
    const jobId = 'x'.repeat(64);
    const upscale = imageActionId({ kind: 'upscale', jobId, index: 3, resolution: '4K' });
    expect(upscale).toBe(`nb2:upscale:${jobId}:3:4K`);
    expect(upscale.length).toBeLessThanOrEqual(100);
    expect(parseImageActionId(upscale)).toEqual({
      kind: 'upscale',
      jobId,
      index: 3,
      resolution: '4K',
    });
    expect(parseImageActionId('nb2:vary:abc:1')).toEqual({ kind: 'vary', jobId: 'abc', index: 1 });
    expect(parseImageActionId('nb2:edit:abc:0')).toEqual({ kind: 'edit', jobId: 'abc', index: 0 });
  });

  it('ignore anything else: earlier formats, forged or half ids', () => {
    for (const value of [
      'nb:reroll:abc',
      'nb:edit:abc',
      'nb2:upscale:abc:0',
      'nb2:vary:abc:0:2K',
      'nb2:delete:abc:0',
      'nb2:vary:a/b:0',
      'nb2:vary:abc:-1',
      'nb2:upscale:abc:0:8K',
      '',
    ]) {
      expect(parseImageActionId(value), value).toBeUndefined();
    }
  });
});

describe('upscale choices', () => {
  it('offer every resolution above the result’s, on its model where it makes it', () => {
    expect(upscaleChoices(parent(), catalog, 'nano-banana-2')).toEqual([
      { resolution: '2K', model: 'nano-banana-2' },
      { resolution: '4K', model: 'nano-banana-2' },
    ]);
    const pro = parent({ options: { model: 'nano-banana-pro', resolution: '2K' } });
    expect(upscaleChoices(pro, catalog, 'nano-banana-2')).toEqual([
      { resolution: '4K', model: 'nano-banana-pro' },
    ]);
    const mixed = parent({ options: { model: 'only-2k' } });
    expect(upscaleChoices(mixed, catalog, 'nano-banana-pro')).toEqual([
      { resolution: '2K', model: 'only-2k' },
      { resolution: '4K', model: 'nano-banana-pro' },
    ]);
    expect(
      upscaleChoices(
        parent({ options: { model: 'nano-banana-2', resolution: '4K' } }),
        catalog,
        'x',
      ),
    ).toEqual([]);
  });
});

describe('the request of an action', () => {
  it('edits that image of the parent, for the presser, with a final prompt', () => {
    const request = imageActionRequest(
      parent(),
      { kind: 'upscale', jobId: 'Parent_Job-1', index: 1, resolution: '4K' },
      presser,
      context,
    );
    expect(request).toMatchObject({
      requesterId: 'bob',
      dedupKey: 'discord:interaction:2',
      action: 'edit',
      parentJobId: 'Parent_Job-1',
      promptIsFinal: true,
      inputs: [{ kind: 'url', url: 'https://cdn.example/2.png' }],
      options: { model: 'nano-banana-2', resolution: '4K', aspectRatio: '16:9', count: 1 },
    });
    // The parent's prompt as it was expanded, once.
    expect(request.prompt.endsWith('It shows: two foxes --style ink')).toBe(true);

    const vary = imageActionRequest(
      parent(),
      { kind: 'vary', jobId: 'x', index: 0 },
      presser,
      context,
    );
    expect(vary.options).toEqual({ model: 'nano-banana', aspectRatio: '16:9', count: 1 });
    expect(vary.inputs).toEqual([{ kind: 'url', url: 'https://cdn.example/1.png' }]);
  });

  it('keeps within the prompt limit, cutting the parent’s prompt', () => {
    const long = parent({ prompt: 'é'.repeat(4000) });
    const request = imageActionRequest(
      long,
      { kind: 'vary', jobId: 'x', index: 0 },
      presser,
      context,
    );
    expect([...request.prompt].length).toBeLessThanOrEqual(4000);
    expect(request.prompt.endsWith('…')).toBe(true);
  });

  it('is refused, in the presser’s language, once the result is gone', () => {
    const forgotten = parent({ result: undefined });
    expect(() => resultImageUrl(forgotten, 0)).toThrow();
    expect(() => resultImageUrl(parent(), 2)).toThrow();
    let error: unknown;
    try {
      imageActionRequest(forgotten, { kind: 'vary', jobId: 'x', index: 0 }, presser, context);
    } catch (caught) {
      error = caught;
    }
    expect(describeError(error, 'fr')).toContain('n’est plus conservée');
    expect(describeError(error, 'en')).toContain('no longer kept');
  });
});

describe('the prompt people read', () => {
  it('shows an Upscale or a Vary as the prompt it works from, marked, and any other as it is', () => {
    const child = (kind: 'upscale' | 'vary') =>
      imageActionRequest(
        parent(),
        kind === 'upscale'
          ? { kind, jobId: 'Parent_Job-1', index: 0, resolution: '2K' }
          : { kind, jobId: 'Parent_Job-1', index: 0 },
        presser,
        context,
      );
    expect(displayPrompt({ ...child('upscale'), parentJobId: 'Parent_Job-1' })).toBe(
      '⬆️ two foxes --style ink',
    );
    expect(displayPrompt({ ...child('vary'), parentJobId: 'Parent_Job-1' })).toBe(
      '🔀 two foxes --style ink',
    );
    // Without a parent, even a prompt that starts the same way is the member's own.
    const typed = child('vary').prompt;
    expect(displayPrompt({ prompt: typed, parentJobId: undefined })).toBe(typed);
    expect(displayPrompt({ prompt: 'a fox', parentJobId: 'Parent_Job-1' })).toBe('a fox');
  });
});

describe('the help', () => {
  it('mentions the per-image buttons, in English and French', () => {
    expect(translate('en', 'help.body', {})).toContain(
      'the buttons of each image upscale it (2K, 4K), vary it or edit it',
    );
    expect(translate('fr', 'help.body', {})).toContain(
      'les boutons de chaque image l’agrandissent (2K, 4K), la font varier ou la modifient',
    );
  });
});
