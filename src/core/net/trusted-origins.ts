/**
 * Trusted origins: the hosts the bot fetches from as they are (a chat platform's file hosts, the
 * image API, and whatever test server or proxy an operator points those settings at). Anything
 * else is either refused or, for result images, fetched from public addresses only.
 */

/** The origin (`scheme://host[:port]`) of an http(s) URL, or undefined for anything else. */
export function originOf(url: string | URL): string | undefined {
  try {
    const parsed = typeof url === 'string' ? new URL(url) : url;
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return undefined;
    return parsed.origin;
  } catch {
    return undefined;
  }
}

/** The origins of the given URLs (or origins), without duplicates; unparsable ones are dropped. */
export function trustedOrigins(...urls: readonly (string | undefined)[]): readonly string[] {
  const origins = new Set<string>();
  for (const url of urls) {
    const origin = url === undefined ? undefined : originOf(url);
    if (origin !== undefined) origins.add(origin);
  }
  return [...origins];
}

/** True when the URL's origin is one of `origins` (scheme, host and port must all match). */
export function isTrustedUrl(url: string | URL, origins: readonly string[]): boolean {
  const origin = originOf(url);
  return origin !== undefined && origins.includes(origin);
}
