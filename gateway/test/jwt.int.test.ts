import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { CLIENT_IP_HEADER, parseSigningKeys, signUserToken, generateSigningKey, verifyPrincipal } from '@platform/auth';
import { TEST_SECRET } from '@platform/testing';
import { Stack, startStack, call, JWT_KEYS } from './support';

jest.setTimeout(30_000);

/** Spec 001 user tokens at the gateway: verified locally against identity's JWKS. */
describe('gateway JWT verification', () => {
  let s: Stack;
  let token: string;
  let userId: string;
  const [signer, previous] = parseSigningKeys(JSON.stringify(JWT_KEYS));
  const OPTS = { issuer: 'platform-identity', audience: 'platform-api' };

  beforeAll(async () => {
    s = await startStack('gw_jwt');
    const email = `gw-${Date.now()}@example.com`;
    expect((await call(s.url, 'POST', '/auth/register', { body: { email, password: 'secure-password-here' } })).status).toBe(202);
    const login = await call(s.url, 'POST', '/auth/login', { body: { email, password: 'secure-password-here' } });
    expect(login.status).toBe(200);
    token = login.body.token;
    userId = login.body.user.id;
  });
  afterAll(() => s.stop());

  it('forwards a user principal and verifies warm tokens without calling identity', async () => {
    const first = await call(s.url, 'GET', '/agents', { headers: { authorization: `Bearer ${token}` } });
    expect(first.status).toBe(200);
    const seen = s.stubs.wallets.requests.at(-1)!.headers;
    expect(verifyPrincipal(String(seen['x-internal-principal']), TEST_SECRET)).toEqual({ owner_id: userId, kind: 'jwt', key_id: null, roles: ['user'], org_id: null, rate_limit: 60, agent_id: null });
    expect(seen.authorization).toBeUndefined();

    const jwtStats = { ...s.gateway.verifier.jwt!.stats };
    const remote = s.gateway.verifier.stats.remote;
    for (let i = 0; i < 5; i++) expect((await call(s.url, 'GET', '/agents', { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect(s.gateway.verifier.jwt!.stats.fetches).toBe(jwtStats.fetches);
    expect(s.gateway.verifier.jwt!.stats.verified).toBe(jwtStats.verified + 5);
    expect(s.gateway.verifier.stats.remote).toBe(remote);
  });

  it('accepts a token of the previous key (rotation) and refuses unknown keys, none, HS256 and expired tokens', async () => {
    const claims = { sub: userId, org_id: null, org_role: null };
    const old = signUserToken(claims, previous, { ...OPTS, ttlS: 300 });
    expect((await call(s.url, 'GET', '/agents', { headers: { authorization: `Bearer ${old}` } })).status).toBe(200);

    const [stranger] = parseSigningKeys(JSON.stringify([generateSigningKey('gw-k1')]));
    const exp = Math.floor(Date.now() / 1000) + 300;
    const pem = signer.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const refused = {
      'a key identity never had, under a known kid': signUserToken(claims, stranger, { ...OPTS, ttlS: 300 }),
      'alg none': jwt.sign({ ...claims, exp }, '', { algorithm: 'none', keyid: 'gw-k2', ...OPTS }),
      'HS256 with the public key as secret': jwt.sign({ ...claims, exp }, pem, { algorithm: 'HS256', keyid: 'gw-k2', ...OPTS }),
      expired: signUserToken(claims, signer, { ...OPTS, ttlS: 60, now: new Date(Date.now() - 120_000) }),
      'another audience': signUserToken(claims, signer, { issuer: OPTS.issuer, audience: 'elsewhere', ttlS: 300 }),
      'a tampered payload': `${token.split('.')[0]}.${Buffer.from(JSON.stringify({ ...claims, sub: randomUUID(), exp })).toString('base64url')}.${token.split('.')[2]}`,
    };
    for (const [what, bad] of Object.entries(refused)) {
      const res = await call(s.url, 'GET', '/agents', { headers: { authorization: `Bearer ${bad}` } });
      expect([what, res.status]).toEqual([what, 401]);
      expect(res.body).toEqual({ error: 'Invalid or revoked API key', request_id: expect.any(String) });
    }
  });

  it("tells identity the client's address, overwriting a client-sent X-Client-IP", async () => {
    await call(s.url, 'GET', '/agents', { headers: { authorization: `Bearer ${token}`, [CLIENT_IP_HEADER]: '203.0.113.9' } });
    expect(s.stubs.wallets.requests.at(-1)!.headers[CLIENT_IP_HEADER]).toMatch(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
  });
});
