import { describe, expect, it } from 'vitest';
import { RequestEchoFilter } from '../src/core/api/request-echo.js';

/** Runs text through a new filter in pieces of the given sizes (cycled), and parses the result. */
function filtered(text: string, pieceSizes: readonly number[] = [text.length]): unknown {
  const bytes = Buffer.from(text);
  const filter = new RequestEchoFilter();
  const kept: Buffer[] = [];
  let offset = 0;
  for (let piece = 0; offset < bytes.length; piece += 1) {
    const size = Math.max(1, pieceSizes[piece % pieceSizes.length] ?? 1);
    kept.push(...filter.push(bytes.subarray(offset, offset + size)));
    offset += size;
  }
  return JSON.parse(Buffer.concat(kept).toString('utf8'));
}

const image = `data:image/png;base64,${Buffer.alloc(3000, 7).toString('base64')}`;
const batch = JSON.stringify({
  items: [
    {
      id: 'task-1',
      trace_id: 'trace-1',
      created_at: 1.5,
      request: { action: 'edit', prompt: 'a "quoted" {brace} \\ slash', image_urls: [image] },
      response: { success: true, data: [{ image_url: 'https://cdn.example/1.png' }] },
    },
    { id: 'task-2', request: { action: 'generate', prompt: 'ünïcødé 🍌 "request": [' } },
  ],
  count: 2,
});
const expected = {
  items: [
    {
      id: 'task-1',
      trace_id: 'trace-1',
      created_at: 1.5,
      request: null,
      response: { success: true, data: [{ image_url: 'https://cdn.example/1.png' }] },
    },
    { id: 'task-2', request: null },
  ],
  count: 2,
};

describe('RequestEchoFilter', () => {
  it('leaves out each task’s echoed request, whole or in pieces of any size', () => {
    expect(filtered(batch)).toEqual(expected);
    for (const sizes of [[1], [2], [3, 5], [7, 1, 64], [4096]]) {
      expect(filtered(batch, sizes), `pieces of ${sizes.join(', ')}`).toEqual(expected);
    }
    const short = JSON.stringify({ id: 't', request: { a: ['x', { b: '"}' }] }, done: true });
    for (let split = 1; split < short.length; split += 1) {
      expect(filtered(short, [split, short.length])).toEqual({
        id: 't',
        request: null,
        done: true,
      });
    }
  });

  it('counts what it left out: nearly all of an answer with an inline image', () => {
    const filter = new RequestEchoFilter();
    const kept = filter.push(Buffer.from(batch));
    const keptBytes = kept.reduce((sum, part) => sum + part.length, 0);
    expect(filter.dropped + keptBytes).toBe(Buffer.byteLength(batch) + 2 * 'null'.length);
    expect(keptBytes).toBeLessThan(400);
  });

  it('leaves out request values of every JSON type, whatever the spacing', () => {
    const text =
      '{"a":{"request" : "a \\"string\\" \\\\ }"},"b":{"request":\n42 },' +
      '"c":{"request":true,"x":1},"d":{"request":[1,[2,{"k":"]"}]]},"e":{"request":null}}';
    expect(filtered(text, [3])).toEqual({
      a: { request: null },
      b: { request: null },
      c: { request: null, x: 1 },
      d: { request: null },
      e: { request: null },
    });
  });

  it('keeps other members, and "request" written inside strings', () => {
    const text = JSON.stringify({
      requests: [1],
      request_id: 'r',
      prompt: 'the "request": {"x": 1} is text',
      'req\\uest': 'escaped key',
      nested: { requester: 'u' },
    });
    expect(filtered(text, [5])).toEqual(JSON.parse(text));
  });
});
