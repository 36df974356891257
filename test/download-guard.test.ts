import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import type { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NanoBananaError } from '../src/core/errors.js';
import { downloadImage } from '../src/core/images/index.js';
import {
  createGuardedAgent,
  isPublicAddress,
  isTrustedUrl,
  type Resolver,
  trustedOrigins,
} from '../src/core/net/index.js';

/**
 * The downloader's guard against server-side request forgery. The attacks run on loopback: a
 * "metadata" server stands for 169.254.169.254 and records every request it gets; an injected
 * resolver answers 127.0.0.x for the attacker's host names, as a hostile DNS would. The other
 * ranges are checked on the classifier alone, and never connected to.
 */

interface Recorder {
  readonly origin: string;
  readonly port: number;
  readonly seen: string[];
  close(): Promise<void>;
}

async function recorder(
  host: string,
  answer: (request: IncomingMessage, response: ServerResponse) => void,
  port = 0,
): Promise<Recorder> {
  const seen: string[] = [];
  const server: Server = createServer((request, response) => {
    seen.push(request.url ?? '/');
    answer(request, response);
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    origin: `http://${host}:${bound}`,
    port: bound,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function caught(promise: Promise<unknown>): Promise<NanoBananaError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof NanoBananaError) return error;
    throw error;
  }
  throw new Error('expected the download to fail');
}

const resolveTo =
  (...addresses: string[]): Resolver =>
  async () =>
    addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }) as const);

let png: Buffer;
let metadata: Recorder;
const agents: Agent[] = [];
const guarded = (options: Parameters<typeof createGuardedAgent>[0]) => {
  const agent = createGuardedAgent(options);
  agents.push(agent);
  return agent;
};
const options = { maxBytes: 1_000_000, timeoutMs: 5_000 };

beforeAll(async () => {
  png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } })
    .png()
    .toBuffer();
  // Answers with an image, so that a fetch that reaches it would succeed and show up.
  metadata = await recorder('127.0.0.1', (_request, response) =>
    response.writeHead(200, { 'content-type': 'image/png' }).end(png),
  );
});
afterAll(async () => {
  await metadata.close();
});
afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.close()));
  metadata.seen.length = 0;
});

describe('the address classifier', () => {
  it('lets public unicast addresses through, IPv4 in IPv6 judged by its IPv4', () => {
    for (const address of [
      '8.8.8.8',
      '1.1.1.1',
      '151.101.1.69',
      '2606:4700:4700::1111',
      '2a00:1450:4007:80e::200e',
      '::ffff:8.8.8.8',
      '64:ff9b::808:808',
    ]) {
      expect([address, isPublicAddress(address)]).toEqual([address, true]);
    }
  });

  it('refuses loopback, private, link-local, unique-local, metadata and other special addresses', () => {
    for (const address of [
      '127.0.0.1',
      '127.255.255.254',
      '10.0.0.1',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254', // AWS, GCP, Azure metadata
      '169.254.170.2', // AWS ECS task metadata
      '100.100.100.200', // Alibaba metadata (shared address space)
      '100.64.0.1',
      '168.63.129.16', // Azure platform endpoint, on a public-looking address
      '192.0.0.192', // Oracle Cloud metadata
      '0.0.0.0',
      '255.255.255.255',
      '224.0.0.1',
      '192.0.2.10',
      '198.18.0.1',
      '240.0.0.1',
      '::1',
      '::',
      'fe80::1',
      'fe80::1%eth0',
      'fc00::1',
      'fd12:3456::1',
      'fd00:ec2::254', // AWS metadata over IPv6
      'ff02::1',
      '2001:db8::1',
      '::ffff:127.0.0.1',
      '::ffff:169.254.169.254',
      '::ffff:10.0.0.1',
      '64:ff9b::7f00:1',
      '64:ff9b::a9fe:a9fe',
      'localhost',
      'not an address',
      '',
    ]) {
      expect([address, isPublicAddress(address)]).toEqual([address, false]);
    }
  });
});

describe('trusted origins', () => {
  it('match on scheme, host and port', () => {
    const origins = trustedOrigins('https://cdn.discordapp.com', 'http://127.0.0.1:8787/api/');
    expect(origins).toEqual(['https://cdn.discordapp.com', 'http://127.0.0.1:8787']);
    expect(isTrustedUrl('https://cdn.discordapp.com/attachments/1/2/a.png', origins)).toBe(true);
    expect(isTrustedUrl('http://127.0.0.1:8787/images/a.png', origins)).toBe(true);
    expect(isTrustedUrl('http://cdn.discordapp.com/a.png', origins)).toBe(false);
    expect(isTrustedUrl('https://cdn.discordapp.com.evil.example/a.png', origins)).toBe(false);
    expect(isTrustedUrl('https://evil.example/?https://cdn.discordapp.com/', origins)).toBe(false);
    expect(isTrustedUrl('http://127.0.0.1:8788/a.png', origins)).toBe(false);
    expect(isTrustedUrl('file:///etc/passwd', origins)).toBe(false);
  });
});

describe('downloading from outside the trusted origins', () => {
  it('never connects to a loopback address given as is, open port or closed alike', async () => {
    const closed = await recorder('127.0.0.1', () => {});
    const closedPort = closed.port;
    await closed.close();
    const open = await caught(downloadImage(`${metadata.origin}/latest/meta-data/`, options));
    const shut = await caught(
      downloadImage(`http://127.0.0.1:${closedPort}/latest/meta-data/`, options),
    );
    expect(metadata.seen).toEqual([]);
    expect(open).toMatchObject({
      code: 'upstream_error',
      retryable: false,
      params: { reason: 'blocked_address' },
    });
    // The same answer whatever listens there: the errors cannot be used to scan ports.
    expect(shut.params).toEqual(open.params);
    expect(shut.message.replace(String(closedPort), 'PORT')).toBe(
      open.message.replace(String(metadata.port), 'PORT'),
    );
    // Other spellings of loopback, as URL parsing normalises them.
    for (const host of ['[::1]', '[::ffff:127.0.0.1]', '0x7f000001', '2130706433', '127.1']) {
      const error = await caught(
        downloadImage(`http://${host}:${metadata.port}/latest/meta-data/`, options),
      );
      expect([host, error.params]).toEqual([host, { reason: 'blocked_address' }]);
    }
    expect(metadata.seen).toEqual([]);
  });

  it('never connects to a host name that resolves to a loopback address', async () => {
    const outsideDispatcher = guarded({ resolve: resolveTo('127.0.0.1') });
    const error = await caught(
      downloadImage(`http://metadata.attacker.test:${metadata.port}/latest/meta-data/`, {
        ...options,
        outsideDispatcher,
      }),
    );
    expect(error).toMatchObject({ code: 'upstream_error', params: { reason: 'blocked_address' } });
    expect(error.message).not.toContain('127.0.0.1');
    expect(metadata.seen).toEqual([]);
  });

  it('refuses a host name with a private address among its answers', async () => {
    // 127.0.0.1 stands in for a public address here; 127.0.0.2 is the private one.
    const outsideDispatcher = guarded({
      resolve: resolveTo('127.0.0.1', '127.0.0.2'),
      isAllowedAddress: (address) => address === '127.0.0.1',
    });
    const error = await caught(
      downloadImage(`http://mixed.attacker.test:${metadata.port}/a.png`, {
        ...options,
        outsideDispatcher,
      }),
    );
    expect(error.params).toEqual({ reason: 'blocked_address' });
    expect(metadata.seen).toEqual([]);
  });

  it('checks the address at every connection, so a name that rebinds is refused', async () => {
    // The same name and port answer 127.0.0.1 (standing in for a public address) the first
    // time and 127.0.0.2 (the internal service) the second: DNS rebinding. The public server
    // closes each connection, so the second download has to connect (and resolve) again.
    const answer = (_request: IncomingMessage, response: ServerResponse) =>
      response.writeHead(200, { 'content-type': 'image/png', connection: 'close' }).end(png);
    const outside = await recorder('127.0.0.1', answer);
    const internal = await recorder('127.0.0.2', answer, outside.port);
    const answers = ['127.0.0.1', '127.0.0.2'];
    let lookups = 0;
    const outsideDispatcher = guarded({
      resolve: async () => {
        const address = answers[Math.min(lookups, answers.length - 1)] ?? '127.0.0.2';
        lookups += 1;
        return [{ address, family: 4 }];
      },
      isAllowedAddress: (address) => address === '127.0.0.1',
    });
    try {
      const url = `http://rebind.attacker.test:${outside.port}/image.png`;
      const first = await downloadImage(url, { ...options, outsideDispatcher });
      expect(first.bytes.equals(png)).toBe(true);
      expect(outside.seen).toEqual(['/image.png']);
      const error = await caught(downloadImage(url, { ...options, outsideDispatcher }));
      expect(error.params).toEqual({ reason: 'blocked_address' });
      expect(lookups).toBe(2);
      expect(internal.seen).toEqual([]);
      expect(outside.seen).toEqual(['/image.png']);
    } finally {
      await Promise.all([outside.close(), internal.close()]);
    }
  });

  it('follows a redirect within its own origin, through the same check', async () => {
    const server = await recorder('127.0.0.1', (request, response) => {
      if (request.url === '/moved') response.writeHead(302, { location: '/image.png' }).end();
      else response.writeHead(200, { 'content-type': 'image/png' }).end(png);
    });
    try {
      const outsideDispatcher = guarded({
        resolve: resolveTo('127.0.0.1'),
        isAllowedAddress: (address) => address === '127.0.0.1',
      });
      const image = await downloadImage(`http://cdn.example.test:${server.port}/moved`, {
        ...options,
        outsideDispatcher,
      });
      expect(image.bytes.equals(png)).toBe(true);
      expect(server.seen).toEqual(['/moved', '/image.png']);
    } finally {
      await server.close();
    }
  });
});

describe('redirects', () => {
  it('are never followed out of the trusted origins, even from a trusted one', async () => {
    const attacker = await recorder('127.0.0.1', (_request, response) =>
      response.writeHead(302, { location: `${metadata.origin}/latest/meta-data/iam/` }).end(),
    );
    try {
      for (const outside of ['refuse', 'public-only'] as const) {
        const error = await caught(
          downloadImage(`${attacker.origin}/cat.png`, {
            ...options,
            trustedOrigins: [attacker.origin],
            outside,
          }),
        );
        expect(error).toMatchObject({
          code: 'upstream_error',
          retryable: false,
          params: { reason: 'untrusted_host' },
        });
      }
      expect(attacker.seen).toHaveLength(2);
      expect(metadata.seen).toEqual([]);
    } finally {
      await attacker.close();
    }
  });

  it('are followed between trusted origins, the caller’s headers going to the first one only', async () => {
    const tokens: string[] = [];
    const files = await recorder('127.0.0.1', (request, response) => {
      tokens.push(request.headers.authorization ?? '');
      response.writeHead(200, { 'content-type': 'image/png' }).end(png);
    });
    const front = await recorder('127.0.0.1', (request, response) => {
      tokens.push(request.headers.authorization ?? '');
      response.writeHead(302, { location: `${files.origin}/image.png` }).end();
    });
    try {
      const image = await downloadImage(`${front.origin}/a.png`, {
        ...options,
        trustedOrigins: [front.origin, files.origin],
        outside: 'refuse',
        headers: { authorization: 'Bearer secret' },
      });
      expect(image.bytes.equals(png)).toBe(true);
      expect(tokens).toEqual(['Bearer secret', '']);
    } finally {
      await Promise.all([files.close(), front.close()]);
    }
  });

  it('refuse an outside URL at once where only trusted origins may be fetched', async () => {
    const error = await caught(
      downloadImage(`${metadata.origin}/latest/meta-data/`, {
        ...options,
        trustedOrigins: ['https://cdn.discordapp.com'],
        outside: 'refuse',
      }),
    );
    expect(error.params).toEqual({ reason: 'untrusted_host' });
    expect(metadata.seen).toEqual([]);
  });
});
