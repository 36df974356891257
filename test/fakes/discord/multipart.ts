/**
 * Reads a REST request body the way Discord accepts it: JSON, or `multipart/form-data` with a
 * `payload_json` part and file parts named `files[n]`.
 */
import type { IncomingMessage } from 'node:http';

export interface UploadedFile {
  /** The form field, e.g. `files[0]`. */
  fieldName: string;
  /** `n` of `files[n]`: the id that `attachments[].id` in the payload refers to. */
  index: number;
  name: string;
  contentType: string;
  bytes: Buffer;
}

export interface RequestBody {
  /** The parsed JSON body or `payload_json`; undefined when there is none. */
  json: unknown;
  files: UploadedFile[];
  /** Size of the whole body as sent, even past the buffering cap. */
  totalBytes: number;
}

export class BodyParseError extends Error {}

/**
 * Buffers the body up to `maxBufferedBytes` and drains the rest, so that an oversized upload
 * still gets a proper 413 answer instead of a reset connection.
 */
export async function readBody(
  request: IncomingMessage,
  maxBufferedBytes: number,
): Promise<{ bytes: Buffer; totalBytes: number; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let buffered = 0;
  let totalBytes = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    totalBytes += chunk.length;
    if (buffered + chunk.length <= maxBufferedBytes) {
      chunks.push(chunk);
      buffered += chunk.length;
    }
  }
  return { bytes: Buffer.concat(chunks), totalBytes, truncated: totalBytes > buffered };
}

/** Parses JSON or multipart; throws BodyParseError for a body Discord would refuse as invalid. */
export async function parseBody(
  bytes: Buffer,
  contentType: string | undefined,
  totalBytes: number,
): Promise<RequestBody> {
  if (bytes.length === 0) return { json: undefined, files: [], totalBytes };
  const type = (contentType ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data'))
    return parseMultipart(bytes, contentType ?? '', totalBytes);
  return { json: parseJson(bytes.toString('utf8')), files: [], totalBytes };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new BodyParseError('The request body contains invalid JSON.');
  }
}

async function parseMultipart(
  bytes: Buffer,
  contentType: string,
  totalBytes: number,
): Promise<RequestBody> {
  // Node's own fetch implementation parses multipart bodies; no extra dependency needed.
  const request = new Request('http://fake.invalid/', {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: bytes,
  });
  let form: FormData;
  try {
    form = await request.formData();
  } catch {
    throw new BodyParseError('The request body is not valid multipart/form-data.');
  }
  let json: unknown;
  const files: UploadedFile[] = [];
  let nextIndex = 0;
  for (const [fieldName, value] of form.entries()) {
    if (typeof value === 'string') {
      if (fieldName === 'payload_json') json = parseJson(value);
      continue;
    }
    const match = /^files\[(\d+)\]$/.exec(fieldName);
    const index = match?.[1] === undefined ? nextIndex : Number(match[1]);
    nextIndex = Math.max(nextIndex, index + 1);
    files.push({
      fieldName,
      index,
      name: value.name || `file${index}`,
      contentType: value.type || 'application/octet-stream',
      bytes: Buffer.from(await value.arrayBuffer()),
    });
  }
  return { json, files, totalBytes };
}
