import type { IncomingMessage } from 'node:http';
import { clientIpResolver } from './client-ip';

const req = (remote: string, forwardedFor?: string) =>
  ({ socket: { remoteAddress: remote }, connection: { remoteAddress: remote }, headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {} }) as unknown as IncomingMessage;

describe('clientIpResolver (TRUST_PROXY, read as express reads `trust proxy`)', () => {
  it('false: the socket address, whatever X-Forwarded-For claims', () => {
    expect(clientIpResolver(false)(req('127.0.0.1', '203.0.113.5'))).toBe('127.0.0.1');
  });
  it('true: the left-most X-Forwarded-For address', () => {
    expect(clientIpResolver(true)(req('127.0.0.1', '203.0.113.5, 10.0.0.2'))).toBe('203.0.113.5');
  });
  it('a hop count: that many proxies are trusted', () => {
    expect(clientIpResolver(1)(req('127.0.0.1', '203.0.113.5, 10.0.0.2'))).toBe('10.0.0.2');
    expect(clientIpResolver(2)(req('127.0.0.1', '203.0.113.5, 10.0.0.2'))).toBe('203.0.113.5');
  });
  it('a list of addresses or subnets: only those proxies are believed', () => {
    const resolve = clientIpResolver('loopback, 10.0.0.0/8');
    expect(resolve(req('127.0.0.1', '203.0.113.5, 10.0.0.2'))).toBe('203.0.113.5');
    expect(resolve(req('192.0.2.1', '203.0.113.5'))).toBe('192.0.2.1');
    expect(() => clientIpResolver('not an address')).toThrow();
  });
});
