import ipaddr from 'ipaddr.js';

/**
 * Which addresses a download from outside the trusted origins may connect to: public unicast
 * only. The ranges come from ipaddr.js (maintained, follows the IANA special-purpose registries)
 * rather than from a hand-written list; what it calls `unicast` is everything not special.
 */

/**
 * Cloud metadata and platform services that sit on ordinary-looking addresses. The link-local
 * (169.254.169.254, AWS ECS 169.254.170.2), unique-local (AWS fd00:ec2::254) and shared
 * (Alibaba 100.100.100.200) ones are refused by their range anyway; these are named so that a
 * change in the library's classification cannot let them through.
 */
const METADATA_ADDRESSES = new Set(
  [
    '169.254.169.254',
    '169.254.170.2',
    '100.100.100.200',
    '168.63.129.16',
    '192.0.0.192',
    'fd00:ec2::254',
  ].map((address) => ipaddr.parse(address).toNormalizedString()),
);

/**
 * True when a download from an untrusted origin may connect to `address`: a public unicast IPv4
 * or IPv6 address. Loopback, private (RFC 1918), shared (CGNAT), link-local, unique-local,
 * multicast, reserved, documentation and metadata addresses are refused, as is anything that
 * is not an IP address. An IPv4 address wrapped in IPv6 (mapped `::ffff:a.b.c.d`, or NAT64
 * `64:ff9b::a.b.c.d`) is judged by the IPv4 address it reaches.
 */
export function isPublicAddress(address: string): boolean {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // A zone index (`fe80::1%eth0`) only ever comes with link-local addresses; parse without it.
    parsed = ipaddr.parse(address.replace(/%.*$/, ''));
  } catch {
    return false;
  }
  if (METADATA_ADDRESSES.has(parsed.toNormalizedString())) return false;
  if (parsed.kind() === 'ipv4') return (parsed as ipaddr.IPv4).range() === 'unicast';
  const ipv6 = parsed as ipaddr.IPv6;
  const range = ipv6.range();
  if (range === 'ipv4Mapped') return isPublicAddress(ipv6.toIPv4Address().toString());
  if (range === 'rfc6052') return isPublicAddress(embeddedIpv4(ipv6).toString());
  return range === 'unicast';
}

/** The IPv4 address in the last 32 bits (NAT64's well-known prefix puts it there). */
function embeddedIpv4(address: ipaddr.IPv6): ipaddr.IPv4 {
  const bytes = address.toByteArray().slice(12);
  return new ipaddr.IPv4(bytes);
}
