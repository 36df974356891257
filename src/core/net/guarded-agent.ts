import { lookup as systemLookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector } from 'undici';
import { isPublicAddress } from './address-policy.js';

/**
 * The connection used for URLs outside the trusted origins. The address is checked when the
 * socket is about to connect, on the very answer the connection uses: a check made earlier (on a
 * first resolution) could be defeated by a name that resolves elsewhere the second time (DNS
 * rebinding), or by a redirect.
 */

export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Resolves a host name to its addresses (default: the system resolver, as Node does). */
export type Resolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

export interface GuardedAgentOptions {
  /** Tests inject a resolver that answers 127.0.0.x for any name (and another answer later). */
  readonly resolve?: Resolver;
  /** Which resolved addresses may be connected to; default: public unicast only. */
  readonly isAllowedAddress?: (address: string) => boolean;
  /** Connect timeout in milliseconds; default 10 s. */
  readonly connectTimeoutMs?: number;
}

/** The code of the error a refused connection fails with; the download maps it to its own. */
export const BLOCKED_ADDRESS_CODE = 'ERR_NANO_BANANA_BLOCKED_ADDRESS';

/** A connection refused because the host is, or resolves to, a non-public address. */
export class BlockedAddressError extends Error {
  override readonly name = 'BlockedAddressError';
  readonly code = BLOCKED_ADDRESS_CODE;
  /** The host name as asked for (never the address: an error must not map the network). */
  readonly hostname: string;
  constructor(hostname: string) {
    super(`Refused to connect to ${hostname}: not a public address`);
    this.hostname = hostname;
  }
}

const systemResolver: Resolver = async (hostname) => {
  const answers = await systemLookup(hostname, { all: true, verbatim: true });
  return answers.map((answer) => ({
    address: answer.address,
    family: answer.family === 6 ? 6 : 4,
  }));
};

/**
 * An undici `Agent` that connects only to allowed addresses. A host given as an IP literal is
 * checked directly (Node skips the lookup for those); a name is resolved through `resolve` and
 * refused when any of its addresses is not allowed, so the connection cannot pick a private one.
 */
export function createGuardedAgent(options: GuardedAgentOptions = {}): Agent {
  const resolve = options.resolve ?? systemResolver;
  const isAllowed = options.isAllowedAddress ?? isPublicAddress;
  const connect = buildConnector({
    lookup: guardedLookup(resolve, isAllowed),
    timeout: options.connectTimeoutMs ?? 10_000,
  });
  return new Agent({
    keepAliveTimeout: 30_000,
    connections: 16,
    connect: (connectOptions, callback) => {
      const host = connectOptions.hostname.replace(/^\[(.*)\]$/, '$1');
      if (isIP(host) !== 0 && !isAllowed(host)) {
        callback(new BlockedAddressError(connectOptions.hostname), null);
        return;
      }
      connect(connectOptions, callback);
    },
  });
}

/** A `lookup` for `net.connect` that answers only with allowed addresses, or fails. */
function guardedLookup(resolve: Resolver, isAllowed: (address: string) => boolean): LookupFunction {
  return (hostname, lookupOptions, callback) => {
    resolve(hostname).then(
      (answers) => {
        const wanted =
          lookupOptions.family === 4 || lookupOptions.family === 6
            ? answers.filter((answer) => answer.family === lookupOptions.family)
            : answers;
        if (answers.some((answer) => !isAllowed(answer.address))) {
          callback(new BlockedAddressError(hostname), '', 0);
          return;
        }
        const first = wanted[0];
        if (first === undefined) {
          const notFound: NodeJS.ErrnoException = new Error(`No address for ${hostname}`);
          notFound.code = 'ENOTFOUND';
          callback(notFound, '', 0);
          return;
        }
        if (lookupOptions.all === true) {
          callback(
            null,
            wanted.map((answer) => ({ address: answer.address, family: answer.family })),
          );
        } else {
          callback(null, first.address, first.family);
        }
      },
      (error: unknown) => callback(error as NodeJS.ErrnoException, '', 0),
    );
  };
}
