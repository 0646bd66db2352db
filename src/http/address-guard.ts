/**
 * Server-side request forgery guard, for every URL the server fetches on someone's say-so (webhook
 * subscriptions, a client's jwks_uri): in http/ so both webhooks/ and auth/ can use it. A URL is https (http only for loopback, and only
 * when loopback is allowed: development), and every address its host resolves to must be public:
 * private, loopback, link-local, unique-local, carrier-grade NAT, multicast and reserved ranges
 * are refused. The check runs in the socket's own DNS lookup, so the address connected to is the
 * address checked (no time-of-check/time-of-use gap for DNS rebinding).
 */
import dns from 'node:dns';
import net from 'node:net';

const NEVER = new net.BlockList();
for (const [address, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  NEVER.addSubnet(address, prefix, 'ipv4');
for (const [address, prefix] of [
  ['::', 128],
  ['64:ff9b::', 96], // NAT64 can reach any IPv4 address, private ones included
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  NEVER.addSubnet(address, prefix, 'ipv6');

const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

export class ForbiddenAddressError extends Error {
  override name = 'ForbiddenAddressError';
  readonly code = 'ERR_FORBIDDEN_ADDRESS';
}

function family(address: string): 'ipv4' | 'ipv6' {
  return net.isIPv6(address) ? 'ipv6' : 'ipv4';
}

export function isLoopbackAddress(address: string): boolean {
  return net.isIP(address) !== 0 && LOOPBACK.check(address, family(address));
}

/** null if a connection to this IP address is allowed, else why not. */
export function refusalOf(address: string, allowLoopback: boolean): string | null {
  if (net.isIP(address) === 0) return `${address} is not an IP address`;
  if (isLoopbackAddress(address)) return allowLoopback ? null : `${address} is a loopback address`;
  if (NEVER.check(address, family(address))) return `${address} is a private, link-local or reserved address`;
  return null;
}

const bareHost = (hostname: string) => hostname.replace(/^\[|\]$/g, '');
const isLocalhostName = (host: string) => host === 'localhost' || host.endsWith('.localhost');

/**
 * Is this a URL a subscription (or a jwks_uri) may have? undefined if so, else a sentence saying why not. Names
 * are not resolved here (they may change); delivery checks the addresses they resolve to.
 */
export function urlProblem(raw: string, allowLoopback: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'is not an absolute URL';
  }
  if (url.username || url.password) return 'must not contain credentials';
  if (url.hash) return 'must not contain a fragment';
  const host = bareHost(url.hostname);
  const loopback = isLocalhostName(host) || isLoopbackAddress(host);
  if (loopback && !allowLoopback) return 'must not point at this machine (loopback is allowed only in development)';
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    return allowLoopback ? 'must use https (http only for localhost)' : 'must use https';
  }
  if (net.isIP(host) !== 0) {
    const refusal = refusalOf(host, allowLoopback);
    if (refusal) return `must not point at a private address (${refusal})`;
  }
  return undefined;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/** A `lookup` for http.request that refuses forbidden addresses before any connection is made. */
export function guardedLookup(allowLoopback: boolean) {
  return function lookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const list = addresses as dns.LookupAddress[];
      for (const { address } of list) {
        const refusal = refusalOf(address, allowLoopback);
        if (refusal) return callback(new ForbiddenAddressError(`${hostname} resolves to ${address}: ${refusal}`), []);
      }
      if (options.all) return callback(null, list);
      const first = list[0];
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), []);
      callback(null, first.address, first.family);
    });
  };
}

/** Checks a URL's literal IP host (sockets skip the lookup for those). */
export function assertAddressAllowed(url: URL, allowLoopback: boolean): void {
  const host = bareHost(url.hostname);
  if (net.isIP(host) === 0) return;
  const refusal = refusalOf(host, allowLoopback);
  if (refusal) throw new ForbiddenAddressError(refusal);
}
