// Client addresses as the per-address limits count them (rate limits, connections per address).
// An IPv4 address is one client, or one NAT. An IPv6 client gets at least a /64 from its network
// (RFC 6177 and every ISP's practice) and can use any address in it, a fresh one per request if
// it likes, so counting single IPv6 addresses would count nothing: a /64 is one client (#13).
import net from 'node:net';
import ipaddr from 'ipaddr.js';

/** The longest key kept for something that is not an IP address (see addressKey). */
const NON_ADDRESS_MAX = 64;

/**
 * The key a client address is counted by: an IPv4 address as it is; an IPv6 address by its /64
 * ("2001:db8:1:2::/64"), an IPv4-mapped one ("::ffff:192.0.2.1") as the IPv4 address it is.
 * Anything else (an X-Forwarded-For entry that is not an address: a misconfigured proxy) is
 * cut to NON_ADDRESS_MAX characters, so it cannot make a large key.
 */
export function addressKey(address: string): string {
  const zone = address.indexOf('%'); // fe80::1%eth0: the zone names a local interface
  const bare = zone < 0 ? address : address.slice(0, zone);
  if (net.isIPv4(bare)) return bare;
  if (!net.isIPv6(bare)) return address.slice(0, NON_ADDRESS_MAX);
  const ip = ipaddr.IPv6.parse(bare);
  if (ip.isIPv4MappedAddress()) return ip.toIPv4Address().toString();
  return `${ip.parts
    .slice(0, 4)
    .map((part) => part.toString(16))
    .join(':')}::/64`;
}
