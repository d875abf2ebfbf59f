import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { AppError } from '@platform/http';
import { generateSigningKey, parseSigningKeys, signUserToken, toJwks, SigningKey } from '@platform/auth';
import { CredentialVerifier, IdentityClient, JwtVerifier } from './auth';

const OPTS = { issuer: 'platform-identity', audience: 'platform-api' };
const [k1, k2, k3] = parseSigningKeys(JSON.stringify([generateSigningKey('k1'), generateSigningKey('k2'), generateSigningKey('k3')]));
const userId = randomUUID();
const orgId = randomUUID();
const tokenBy = (key: SigningKey, over: Partial<{ ttlS: number; now: Date; issuer: string }> = {}) =>
  signUserToken({ sub: userId, org_id: orgId, org_role: 'member' }, key, { ...OPTS, ttlS: 900, ...over });

/** A stand-in for identity's /internal/jwks whose key set a test can rotate. */
function jwksSource(initial: SigningKey[]) {
  let keys = initial;
  let fail = false;
  const calls: number[] = [];
  return {
    calls,
    set(next: SigningKey[]) {
      keys = next;
    },
    down(v: boolean) {
      fail = v;
    },
    fetch: async () => {
      calls.push(Date.now());
      if (fail) throw new AppError('UNAVAILABLE', 'identity service is unavailable');
      return JSON.parse(JSON.stringify(toJwks(keys)));
    },
  };
}

describe('JwtVerifier (spec 001 user tokens at the gateway)', () => {
  let now = 1_900_000_000_000;
  const clock = () => now;
  const verifier = (src: ReturnType<typeof jwksSource>, over: Partial<{ minRefreshS: number; maxAgeS: number }> = {}) =>
    new JwtVerifier(src.fetch, { ...OPTS, minRefreshS: 10, maxAgeS: 300, clock, ...over });

  beforeEach(() => {
    now = Date.now();
  });

  it('fetches the key set once, then verifies locally: a warm verification makes no call', async () => {
    const src = jwksSource([k1]);
    const v = verifier(src);
    const expected = { owner_id: userId, kind: 'jwt', key_id: null, roles: ['user', 'org_member'], org_id: orgId, rate_limit: 60, agent_id: null };
    expect(await v.verify(tokenBy(k1))).toEqual(expected);
    for (let i = 0; i < 5; i++) expect(await v.verify(tokenBy(k1))).toEqual(expected);
    expect(src.calls).toHaveLength(1);
    expect(v.stats).toEqual({ verified: 6, refused: 0, fetches: 1 });
  });

  it('answers a token it verified before from memory, until it expires or its key leaves the set', async () => {
    const src = jwksSource([k1, k2]);
    const v = verifier(src);
    const t1 = tokenBy(k1, { ttlS: 60, now: new Date(now) });
    expect(v.peek(t1)).toBeUndefined();
    expect(await v.verify(t1)).not.toBeNull();
    expect(v.peek(t1)).toMatchObject({ owner_id: userId, kind: 'jwt' });
    expect(v.stats.verified).toBe(2);
    // Valid to exp plus the 5 s skew a signature check allows, not a moment longer.
    now += 64_000;
    expect(v.peek(t1)).toBeDefined();
    now += 2_000;
    expect(v.peek(t1)).toBeUndefined();
    expect(await v.verify(t1)).toBeNull();

    const t2 = tokenBy(k2);
    expect(await v.verify(t2)).not.toBeNull();
    expect(v.peek(t2)).toBeDefined();
    src.set([k1]);
    await v.refresh();
    expect(v.peek(t2)).toBeUndefined();
    expect(await v.verify(t2)).toBeNull();
  });

  it('refuses alg none, HS256 and a token without kid before looking up any key', async () => {
    const src = jwksSource([k1]);
    const v = verifier(src);
    const exp = Math.floor(now / 1000) + 600;
    const none = jwt.sign({ sub: userId, org_id: null, org_role: null, exp }, '', { algorithm: 'none', keyid: 'k1', ...OPTS });
    const pem = k1.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const hs256 = jwt.sign({ sub: userId, org_id: null, org_role: null, exp }, pem, { algorithm: 'HS256', keyid: 'k1', ...OPTS });
    const noKid = jwt.sign({ sub: userId, org_id: null, org_role: null, exp }, k1.privateKey!, { algorithm: 'ES256', ...OPTS });
    for (const t of [none, hs256, noKid]) expect(await v.verify(t)).toBeNull();
    expect(src.calls).toHaveLength(0);
  });

  it('refuses an expired token, another issuer and another audience', async () => {
    const v = verifier(jwksSource([k1]));
    expect(await v.verify(tokenBy(k1, { ttlS: 60, now: new Date(now - 120_000) }))).toBeNull();
    expect(await v.verify(tokenBy(k1, { issuer: 'someone-else' }))).toBeNull();
    const otherAud = signUserToken({ sub: userId, org_id: null, org_role: null }, k1, { issuer: OPTS.issuer, audience: 'other', ttlS: 60 });
    expect(await v.verify(otherAud)).toBeNull();
    expect(await v.verify(tokenBy(k1))).not.toBeNull();
  });

  it('refetches on an unknown kid after a rotation, rate limited; the previous kid keeps verifying', async () => {
    const src = jwksSource([k1]);
    const v = verifier(src);
    expect(await v.verify(tokenBy(k1))).not.toBeNull();
    now += 11_000;
    src.set([k2, k1]);
    expect(await v.verify(tokenBy(k2))).not.toBeNull();
    expect(await v.verify(tokenBy(k1))).not.toBeNull();
    expect(src.calls).toHaveLength(2);
    // A kid identity never published: one refetch per JWKS_MIN_REFRESH_S at most.
    now += 1_000;
    expect(await v.verify(tokenBy(k3))).toBeNull();
    expect(await v.verify(tokenBy(k3))).toBeNull();
    expect(src.calls).toHaveLength(2);
    now += 10_000;
    expect(await v.verify(tokenBy(k3))).toBeNull();
    expect(src.calls).toHaveLength(3);
  });

  it('shares one fetch among concurrent first tokens', async () => {
    const src = jwksSource([k1]);
    const v = verifier(src);
    const all = await Promise.all(Array.from({ length: 5 }, () => v.verify(tokenBy(k1))));
    expect(all.every((p) => p?.owner_id === userId)).toBe(true);
    expect(src.calls).toHaveLength(1);
  });

  it('refreshes a stale key set in the background, so a removed kid stops verifying', async () => {
    const src = jwksSource([k2, k1]);
    const v = verifier(src, { maxAgeS: 60 });
    expect(await v.verify(tokenBy(k1))).not.toBeNull();
    src.set([k2]);
    now += 61_000;
    // Served from the stale set while the refresh runs.
    expect(await v.verify(tokenBy(k1))).not.toBeNull();
    await v.refresh();
    expect(v.kids).toEqual(['k2']);
    now += 11_000;
    expect(await v.verify(tokenBy(k1))).toBeNull();
  });

  it('answers 503 (not "invalid") when identity cannot be reached for an unknown kid', async () => {
    const src = jwksSource([k1]);
    src.down(true);
    const v = verifier(src);
    await expect(v.verify(tokenBy(k1))).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    src.down(false);
    now += 10_000;
    expect(await v.verify(tokenBy(k1))).not.toBeNull();
  });

  it('sends JWT-shaped credentials to the local verifier and API keys to identity', async () => {
    const asked: string[] = [];
    const identity: IdentityClient = {
      async verify(c) {
        asked.push(c);
        return null;
      },
    };
    const src = jwksSource([k1]);
    const cv = new CredentialVerifier(identity, { ttlS: 30, jwt: verifier(src) });
    expect((await cv.verify(tokenBy(k1)))?.kind).toBe('jwt');
    expect(await cv.verify(`ig_live_${'a'.repeat(40)}`)).toBeNull();
    expect(asked).toEqual([`ig_live_${'a'.repeat(40)}`]);
    expect(cv.stats.remote).toBe(1);
  });
});
