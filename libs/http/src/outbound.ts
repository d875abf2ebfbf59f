import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { AppError } from './errors';

/**
 * Outbound calls refuse private, loopback, link-local and otherwise special targets unless
 * the host is allow-listed (OUTBOUND_ALLOW_HOSTS). Every address the name resolves to is
 * checked, and the caller connects to the checked address, so DNS rebinding cannot swap it.
 */
const blockedV4: [string, number][] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
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
];
const blockList = new net.BlockList();
for (const [a, p] of blockedV4) blockList.addSubnet(a, p, 'ipv4');
for (const [a, p] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b::', 96],
  ['2001:db8::', 32],
] as [string, number][]) {
  blockList.addSubnet(a, p, 'ipv6');
}

export function isBlockedAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return blockList.check(address, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return blockList.check(mapped[1], 'ipv4');
    return blockList.check(address, 'ipv6');
  }
  return true;
}

export interface CheckedTarget {
  url: URL;
  /** The vetted address to connect to. */
  address: string;
  family: 4 | 6;
}

export function normalizeAllowHosts(hosts: string[]): Set<string> {
  return new Set(hosts.map((h) => h.trim().toLowerCase()).filter(Boolean));
}

export async function checkOutboundUrl(raw: string, allowHosts: Set<string>): Promise<CheckedTarget> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new AppError('BAD_REQUEST', `"${raw.slice(0, 200)}" is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AppError('BAD_REQUEST', 'URL must use http or https');
  if (url.username || url.password) throw new AppError('BAD_REQUEST', 'URL must not carry credentials');
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const allowed = allowHosts.has(host) || allowHosts.has(`${host}:${url.port}`);
  let addresses: { address: string; family: number }[];
  if (net.isIP(host)) addresses = [{ address: host, family: net.isIP(host) }];
  else {
    try {
      addresses = await lookup(host, { all: true, verbatim: true });
    } catch {
      throw new AppError('BAD_GATEWAY', `Cannot resolve host ${host}`);
    }
  }
  if (!addresses.length) throw new AppError('BAD_GATEWAY', `Cannot resolve host ${host}`);
  if (!allowed && addresses.some((a) => isBlockedAddress(a.address))) {
    throw new AppError('FORBIDDEN', `Target ${host} resolves to a private, loopback or link-local address`);
  }
  const first = addresses[0];
  return { url, address: first.address, family: first.family === 6 ? 6 : 4 };
}
