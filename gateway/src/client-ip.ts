import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

/**
 * The address a request is judged by (per-IP bucket, X-Client-IP), with `TRUST_PROXY` read
 * exactly as express reads its `trust proxy` setting: false trusts no proxy (the socket's
 * address), true trusts every hop, a number trusts that many hops, a string is a list of
 * trusted addresses or subnets ("loopback, 10.0.0.0/8").
 */
export function clientIpResolver(trust: boolean | number | string): (req: IncomingMessage) => string {
  if (trust === false) return (req) => req.socket.remoteAddress ?? 'unknown';
  const fn: (addr: string, i: number) => boolean =
    trust === true ? () => true : typeof trust === 'number' ? (_addr, i) => i < trust : proxyaddr.compile(trust.split(',').map((v) => v.trim()));
  return (req) => (req.socket.remoteAddress ? proxyaddr(req, fn) : 'unknown');
}
