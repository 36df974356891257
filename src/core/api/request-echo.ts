/**
 * Leaves the value of every `"request"` member out of a JSON text as it streams in, writing
 * `null` in its place. The tasks endpoint sends each task's create body back with it, `data:`
 * images included: 13 MB for a 10 MB input image, on every poll of that task. Nothing here reads
 * it, and parsing it would hold several copies of it at once (bytes, text, parsed string).
 *
 * Works on bytes: JSON's structural characters are ASCII, and no byte of a multi-byte UTF-8
 * character is. Strings are followed, escapes included, so a `"request":` inside a prompt is text.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const KEY = Buffer.from('request');
const NULL = Buffer.from('null');

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/** The index of the next quote or backslash from `from`, or the chunk's length. */
function nextSpecial(chunk: Buffer, from: number): number {
  const quote = chunk.indexOf(QUOTE, from);
  const end = quote === -1 ? chunk.length : quote;
  // Only as far as the quote: a long chunk is not searched to its end for every string.
  const backslash = chunk.subarray(from, end).indexOf(BACKSLASH);
  return backslash === -1 ? end : from + backslash;
}

/** Where a skipped value stands. */
type Skip =
  | { kind: 'none' }
  /** After the colon, before the value's first byte. */
  | { kind: 'start' }
  /** Inside an object or array: its depth, and whether inside a string within it. */
  | { kind: 'nested'; depth: number; inString: boolean; escaped: boolean }
  /** A string value. */
  | { kind: 'string'; escaped: boolean }
  /** A number, `true`, `false` or `null`: ends at the next delimiter. */
  | { kind: 'scalar' };

export class RequestEchoFilter {
  #inString = false;
  #escaped = false;
  /** How many bytes of the current string match `request`; -1 once it cannot be that. */
  #matched = 0;
  /** The last string was exactly `request` and only whitespace has followed it. */
  #keyClosed = false;
  #skip: Skip = { kind: 'none' };
  /** Bytes left out so far. */
  dropped = 0;

  /** The parts of `chunk` to keep, in order (views of it, plus `null` for each value left out). */
  push(chunk: Buffer): Buffer[] {
    const kept: Buffer[] = [];
    let keepFrom = 0;
    for (let index = 0; index < chunk.length; index += 1) {
      if (this.#inSkippedString()) {
        // Most of what is left out is one long base64 string: jump to its next quote or escape.
        const next = nextSpecial(chunk, index);
        this.dropped += next - index;
        index = next;
        if (index >= chunk.length) break;
      }
      const byte = chunk[index] ?? 0;
      if (this.#skip.kind !== 'none') {
        const end = this.#skipByte(byte);
        if (end === 'inside') {
          this.dropped += 1;
          continue;
        }
        this.#skip = { kind: 'none' };
        if (end === 'last') {
          this.dropped += 1;
          keepFrom = index + 1;
          continue;
        }
        // The byte after a scalar belongs to the text around it.
        keepFrom = index;
      }
      if (this.#inString) {
        this.#stringByte(byte);
        continue;
      }
      if (byte === QUOTE) {
        this.#inString = true;
        this.#matched = 0;
        this.#keyClosed = false;
      } else if (byte === COLON && this.#keyClosed) {
        this.#keyClosed = false;
        kept.push(chunk.subarray(keepFrom, index + 1), NULL);
        this.#skip = { kind: 'start' };
      } else if (!isWhitespace(byte)) {
        this.#keyClosed = false;
      }
    }
    if (this.#skip.kind === 'none' && keepFrom < chunk.length) kept.push(chunk.subarray(keepFrom));
    return kept;
  }

  #inSkippedString(): boolean {
    const skip = this.#skip;
    return (
      (skip.kind === 'string' && !skip.escaped) ||
      (skip.kind === 'nested' && skip.inString && !skip.escaped)
    );
  }

  #stringByte(byte: number): void {
    if (this.#escaped) {
      this.#escaped = false;
      this.#matched = -1;
    } else if (byte === BACKSLASH) {
      this.#escaped = true;
      this.#matched = -1;
    } else if (byte === QUOTE) {
      this.#inString = false;
      this.#keyClosed = this.#matched === KEY.length;
    } else if (this.#matched >= 0 && this.#matched < KEY.length && byte === KEY[this.#matched]) {
      this.#matched += 1;
    } else {
      this.#matched = -1;
    }
  }

  /** Whether a byte of a skipped value is inside it, its last byte, or the first byte after it. */
  #skipByte(byte: number): 'inside' | 'last' | 'after' {
    const skip = this.#skip;
    switch (skip.kind) {
      case 'start':
        if (isWhitespace(byte)) return 'inside';
        if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
          this.#skip = { kind: 'nested', depth: 1, inString: false, escaped: false };
        } else if (byte === QUOTE) {
          this.#skip = { kind: 'string', escaped: false };
        } else {
          this.#skip = { kind: 'scalar' };
        }
        return 'inside';
      case 'string':
        if (skip.escaped) skip.escaped = false;
        else if (byte === BACKSLASH) skip.escaped = true;
        else if (byte === QUOTE) return 'last';
        return 'inside';
      case 'scalar':
        return byte === COMMA ||
          byte === CLOSE_BRACE ||
          byte === CLOSE_BRACKET ||
          isWhitespace(byte)
          ? 'after'
          : 'inside';
      case 'nested':
        if (skip.inString) {
          if (skip.escaped) skip.escaped = false;
          else if (byte === BACKSLASH) skip.escaped = true;
          else if (byte === QUOTE) skip.inString = false;
        } else if (byte === QUOTE) {
          skip.inString = true;
        } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
          skip.depth += 1;
        } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
          skip.depth -= 1;
          if (skip.depth === 0) return 'last';
        }
        return 'inside';
      case 'none':
        return 'after';
    }
  }
}
