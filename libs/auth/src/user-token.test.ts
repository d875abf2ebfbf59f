import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { generateSigningKey, keysFromJwks, looksLikeJwt, parseSigningKeys, principalFromUserClaims, signUserToken, toJwks, tokenHeader, verifyUserToken } from './user-token';

const opts = { issuer: 'platform-identity', audience: 'platform-api' };
const claims = { sub: randomUUID(), org_id: randomUUID(), org_role: 'admin' as const };
const [key, old] = parseSigningKeys(JSON.stringify([generateSigningKey('k2'), generateSigningKey('k1')]));

describe('user tokens (ES256)', () => {
  it('round-trips through the published JWKS', () => {
    const token = signUserToken(claims, key, { ...opts, ttlS: 900 });
    expect(tokenHeader(token)).toEqual({ alg: 'ES256', kid: 'k2' });
    const published = keysFromJwks(JSON.parse(JSON.stringify(toJwks([key, old]))));
    expect([...published.keys()]).toEqual(['k2', 'k1']);
    expect(verifyUserToken(token, published.get('k2')!, opts)).toEqual(claims);
    expect(principalFromUserClaims(claims)).toEqual({ owner_id: claims.sub, kind: 'jwt', key_id: null, roles: ['user', 'org_admin'], org_id: claims.org_id, rate_limit: 60, agent_id: null });
    expect(principalFromUserClaims({ ...claims, org_id: null, org_role: null }).roles).toEqual(['user']);
  });

  it('refuses another key, issuer, audience, an expired token and a token without exp', () => {
    const token = signUserToken(claims, key, { ...opts, ttlS: 900 });
    expect(verifyUserToken(token, old.publicKey, opts)).toBeNull();
    expect(verifyUserToken(token, key.publicKey, { ...opts, issuer: 'someone-else' })).toBeNull();
    expect(verifyUserToken(token, key.publicKey, { ...opts, audience: 'other' })).toBeNull();
    const expired = signUserToken(claims, key, { ...opts, ttlS: 60, now: new Date(Date.now() - 120_000) });
    expect(verifyUserToken(expired, key.publicKey, opts)).toBeNull();
    const noExp = jwt.sign(claims, key.privateKey!, { algorithm: 'ES256', keyid: 'k2', ...opts });
    expect(verifyUserToken(noExp, key.publicKey, opts)).toBeNull();
  });

  it('refuses alg none and HS256 signed with the public key as the secret', () => {
    const none = jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) + 60 }, '', { algorithm: 'none', keyid: 'k2', ...opts });
    expect(looksLikeJwt(none)).toBe(true);
    expect(verifyUserToken(none, key.publicKey, opts)).toBeNull();
    const pem = key.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const hs = jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) + 60 }, pem, { algorithm: 'HS256', keyid: 'k2', ...opts, allowInsecureKeySizes: true } as jwt.SignOptions);
    expect(verifyUserToken(hs, key.publicKey, opts)).toBeNull();
  });

  it('reads JWT_SIGNING_KEYS strictly', () => {
    expect(() => parseSigningKeys('not json')).toThrow(/JSON array/);
    expect(() => parseSigningKeys('[]')).toThrow(/at least one key/);
    expect(() => parseSigningKeys(JSON.stringify([{ kid: 'a', private_key: 'garbage' }]))).toThrow(/not a readable PEM/);
    expect(() => parseSigningKeys(JSON.stringify([generateSigningKey('a'), generateSigningKey('a')]))).toThrow(/twice/);
    const pub = key.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    expect(() => parseSigningKeys(JSON.stringify([{ kid: 'p', public_key: pub }]))).toThrow(/needs private_key/);
    expect(parseSigningKeys(JSON.stringify([generateSigningKey('n'), { kid: 'p', public_key: pub }]))[1].privateKey).toBeUndefined();
    const { privateKey } = require('node:crypto').generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    expect(() => parseSigningKeys(JSON.stringify([{ kid: 'x', private_key: privateKey.export({ format: 'pem', type: 'pkcs8' }) }]))).toThrow(/P-256/);
  });

  it('tells JWT-shaped credentials from API keys', () => {
    expect(looksLikeJwt('eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln')).toBe(true);
    expect(looksLikeJwt(`ig_live_${'a'.repeat(40)}`)).toBe(false);
    expect(looksLikeJwt('acf_0000000000000000:sec_x')).toBe(false);
    expect(tokenHeader('eyJub3QiOiJhbGcifQ.e30.')).toBeNull();
  });
});
