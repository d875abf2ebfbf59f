import { signPrincipal, verifyPrincipal, PrincipalTokenCache, Principal } from './index';
import jwt from 'jsonwebtoken';

const secret = 'x'.repeat(40);
const p: Principal = { owner_id: 'agent-1', kind: 'acf_key', key_id: 'acf_1', roles: ['buyer'], org_id: null, rate_limit: 60 };

describe('internal principal token', () => {
  it('round-trips', () => {
    expect(verifyPrincipal(signPrincipal(p, secret), secret)).toEqual(p);
  });
  it('refuses another secret, another algorithm and expired tokens', () => {
    expect(verifyPrincipal(signPrincipal(p, secret), 'y'.repeat(40))).toBeNull();
    const none = jwt.sign({ p }, '', { algorithm: 'none' as jwt.Algorithm });
    expect(verifyPrincipal(none, secret)).toBeNull();
    const expired = jwt.sign({ p, exp: Math.floor(Date.now() / 1000) - 10 }, secret, { issuer: 'platform-gateway', audience: 'platform-services' });
    expect(verifyPrincipal(expired, secret)).toBeNull();
  });
  it('answers a token it verified before from memory, for the same secret and until exp only', () => {
    const token = signPrincipal(p, secret, 60);
    const first = verifyPrincipal(token, secret)!;
    first.roles.push('admin');
    expect(verifyPrincipal(token, secret)).toEqual(p);
    expect(verifyPrincipal(token, 'y'.repeat(40))).toBeNull();
    const now = Date.now();
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now + 61_000);
    try {
      expect(verifyPrincipal(token, secret)).toBeNull();
    } finally {
      clock.mockRestore();
    }
  });
  it('signs and verifies with the same HMAC bytes as a string secret', () => {
    const viaString = jwt.sign({ p }, secret, { algorithm: 'HS256', expiresIn: 60, issuer: 'platform-gateway', audience: 'platform-services' });
    expect(verifyPrincipal(viaString, secret)).toEqual(p);
    expect(jwt.verify(signPrincipal(p, secret), secret, { algorithms: ['HS256'] })).toMatchObject({ p });
    expect(() => signPrincipal(p, '')).toThrow();
  });
  it('caches tokens per principal', () => {
    const c = new PrincipalTokenCache(secret);
    expect(c.tokenFor(p)).toBe(c.tokenFor(p));
    expect(c.tokenFor(p)).not.toBe(c.tokenFor({ ...p, roles: ['admin'] }));
  });
});
