import { DiscordAPIError } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { NanoBananaError } from '../src/core/errors.js';
import { maskCredentials, maskRoute, serializeError } from '../src/core/log-serializer.js';
import { createLogger } from '../src/core/logger.js';

const INTERACTION_TOKEN = `aW50ZXJhY3Rpb246${'x'.repeat(120)}`;
const WEBHOOK_URL = `https://discord.com/api/v10/webhooks/1234567890/${INTERACTION_TOKEN}/messages/%40original`;

/** A discord.js error as a refused webhook edit with a 2 MB image makes it. */
function refusedUpload(): DiscordAPIError {
  return new DiscordAPIError(
    { code: 50027, message: 'Invalid Webhook Token' },
    50027,
    401,
    'PATCH',
    WEBHOOK_URL,
    {
      files: [{ name: 'result.png', data: Buffer.alloc(2_000_000, 7) }],
      body: { content: 'here it is', attachments: [{ id: 0 }] },
    },
  );
}

function captureLogger(): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const lines: string[] = [];
  const logger = createLogger({
    level: 'debug',
    secrets: ['configured-secret-value'],
    destination: { write: (line: string) => lines.push(line) },
  });
  return { logger, text: () => lines.join('') };
}

describe('the error serializer', () => {
  it('keeps code, status, method and the masked route of a Discord error, never its body', () => {
    const serialized = serializeError(refusedUpload());
    expect(serialized).toMatchObject({
      type: 'DiscordAPIError[50027]',
      message: 'Invalid Webhook Token',
      code: 50027,
      status: 401,
      method: 'PATCH',
      route: '/api/v10/webhooks/:id/:token/messages/%40original',
    });
    const text = JSON.stringify(serialized);
    expect(text).not.toContain(INTERACTION_TOKEN);
    expect(text).not.toContain('here it is');
    expect(text.length).toBeLessThan(6_000);
  });

  it('serializes what an error wraps the same way', () => {
    const wrapped = new NanoBananaError('delivery_failed', 'Discord refused the delivery', {
      cause: refusedUpload(),
      params: { reason: 'discord_error', name: `see ${WEBHOOK_URL}` },
    });
    const serialized = serializeError(wrapped);
    expect(serialized).toMatchObject({
      code: 'delivery_failed',
      retryable: false,
      params: { reason: 'discord_error' },
      cause: { code: 50027, route: '/api/v10/webhooks/:id/:token/messages/%40original' },
    });
    expect(JSON.stringify(serialized)).not.toContain(INTERACTION_TOKEN);
  });

  it('drops the request a Slack client error carries, headers and file bytes included', () => {
    const original = Object.assign(new Error('socket hang up'), {
      code: 'ECONNRESET',
      config: {
        url: 'https://files.slack.com/upload/v1/CwABAAAAXwoAAZ',
        headers: { Authorization: 'Bearer xoxb-1111-2222-abcdefghijkl' },
        data: Buffer.alloc(1_000, 1),
      },
    });
    const error = Object.assign(new Error('A request error occurred: socket hang up'), {
      code: 'slack_webapi_request_error',
      original,
    });
    const serialized = serializeError(error);
    expect(serialized).toMatchObject({
      code: 'slack_webapi_request_error',
      cause: { code: 'ECONNRESET', message: 'socket hang up' },
    });
    const text = JSON.stringify(serialized);
    expect(text).not.toContain('xoxb-');
    expect(text).not.toContain('CwABAAAAXwoAAZ');
  });

  it('takes anything thrown, not only errors, and keeps only known fields', () => {
    expect(serializeError('boom at /interactions/1/secret-token/callback')).toEqual({
      type: 'string',
      message: 'boom at /interactions/:id/:token/callback',
    });
    const plain = serializeError({ message: 'plain', status: 500, body: 'a body', token: 't' });
    expect(plain).toEqual({ type: 'Object', message: 'plain', status: 500 });
  });

  it('is what the logger uses for err and error, and every line is masked', () => {
    const { logger, text } = captureLogger();
    logger.warn({ err: refusedUpload() }, 'Discord delivery failed');
    logger.error({ error: refusedUpload() }, 'Under the other name');
    logger.info({ url: `${WEBHOOK_URL}?wait=true` }, 'A URL outside an error');
    logger.info({ note: 'configured-secret-value' }, 'A configured secret');
    const logged = text();
    expect(logged).toContain('"route":"/api/v10/webhooks/:id/:token/messages/%40original"');
    expect(logged).not.toContain(INTERACTION_TOKEN);
    expect(logged).not.toContain('configured-secret-value');
    expect(logged).not.toContain('here it is');
    expect(logged.length).toBeLessThan(20_000);
  });
});

describe('masking credentials in text', () => {
  it.each([
    [WEBHOOK_URL, 'https://discord.com/api/v10/webhooks/:id/:token/messages/%40original'],
    [
      'POST /api/v10/interactions/123/abc.def-ghi/callback',
      'POST /api/v10/interactions/:id/:token/callback',
    ],
    [
      'GET https://files.slack.com/files-pri/T0001-F0002/cat.png failed',
      'GET https://files.slack.com/files-pri/:file failed',
    ],
    ['https://files.slack.com/upload/v1/CwABAAAAXwoAAZ', 'https://files.slack.com/upload/:token'],
    ['https://hooks.slack.com/commands/T0001/12345/AbCdEfGh', 'https://hooks.slack.com/:token'],
    [
      'https://cdn.discordapp.com/attachments/1/2/a.png?ex=65&is=64&hm=abcdef',
      'https://cdn.discordapp.com/attachments/1/2/a.png?[redacted]',
    ],
    ['authorization: Bearer some-api-token-123', 'authorization: Bearer [redacted]'],
    [
      'Authorization: Bot MTk4NjIyNDgzNDcxOTI1MjQ4.Cl2FMQ.ZnCjm1XVW7vRze4b7Cq4se7kKWs',
      'Authorization: Bot [redacted]',
    ],
    ['token xoxb-1234-5678-abcdef and xapp-1-A0-99', 'token [redacted] and [redacted]'],
    ['/callbacks/nano-banana/job1/secret', '/callbacks/nano-banana/job1/[redacted]'],
    ['Slack bot connected', 'Slack bot connected'],
  ])('%s', (text, masked) => {
    expect(maskCredentials(text)).toBe(masked);
    // Masking twice changes nothing more.
    expect(maskCredentials(masked)).toBe(masked);
  });

  it('reduces a URL to its masked path', () => {
    expect(maskRoute(`${WEBHOOK_URL}?wait=true`)).toBe(
      '/api/v10/webhooks/:id/:token/messages/%40original',
    );
    expect(maskRoute('/channels/1/messages')).toBe('/channels/1/messages');
  });
});
