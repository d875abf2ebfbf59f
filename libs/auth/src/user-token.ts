import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, randomBytes, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { z } from 'zod';
import type { Principal } from './index';

/**
 * Spec 001 user tokens (JWTs from login, SIWE and the device flow). Identity signs them with
 * the first of its keys; the gateway verifies them locally with the public keys identity
 * publishes (JWKS), so a warm verification needs no call. The algorithm is pinned: a token
 * whose header names anything but ES256 (`none`, HS256 with the public key as a secret, …)
 * is refused before any key is looked at.
 */
export const USER_TOKEN_ALG = 'ES256' as const;
/** Per-minute limit of a user principal (JWT or ig_ key), as spec 002 gives every key one. */
export const USER_RATE_LIMIT = 60;
/** Seconds of clock skew between identity and a gateway tolerated at expiry. */
export const USER_TOKEN_CLOCK_TOLERANCE_S = 5;
/** The client address the gateway saw; identity limits failed sign-ins per address with it. */
export const CLIENT_IP_HEADER = 'x-client-ip';

export const ORG_ROLES = ['owner', 'admin', 'member', 'viewer'] as const;
export type OrgRole = (typeof ORG_ROLES)[number];

/**
 * What a user token says besides iss/aud/iat/exp/jti. Organization and role are copied at
 * issue time: a change reaches the holder when the token expires (tokens are short-lived).
 */
export const userClaimsSchema = z.object({
  sub: z.string().uuid(),
  org_id: z.string().uuid().nullable(),
  org_role: z.enum(ORG_ROLES).nullable(),
});
export type UserClaims = z.infer<typeof userClaimsSchema>;

/** The principal of a signed-in user; the same shape identity gives an ig_ key of that user. */
export function principalFromUserClaims(c: UserClaims): Principal {
  return {
    owner_id: c.sub,
    kind: 'jwt',
    key_id: null,
    roles: c.org_role ? ['user', `org_${c.org_role}`] : ['user'],
    org_id: c.org_id,
    rate_limit: USER_RATE_LIMIT,
    agent_id: null,
  };
}

export interface SigningKey {
  kid: string;
  /** Absent for a retired key that still verifies but no longer signs. */
  privateKey?: KeyObject;
  publicKey: KeyObject;
}

const KID = /^[A-Za-z0-9._-]{1,64}$/;
const keyEntry = z
  .object({
    kid: z.string().regex(KID, 'kid must be 1-64 letters, digits, dots, dashes or underscores'),
    private_key: z.string().min(1).optional(),
    public_key: z.string().min(1).optional(),
  })
  .strict()
  .refine((k) => k.private_key || k.public_key, 'each key needs private_key or public_key (PEM)');

function assertP256(key: KeyObject, kid: string): void {
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`key "${kid}" is not an EC P-256 key (ES256 needs one)`);
  }
}

/**
 * `JWT_SIGNING_KEYS`: a JSON array `[{"kid": "...", "private_key": "<PKCS#8 PEM>"}, ...]`.
 * The first entry signs (it must carry a private key); every entry verifies, so a rotation
 * puts the new key first and keeps the old one until the tokens it signed have expired.
 * Entries after the first may carry only `public_key`.
 */
export function parseSigningKeys(text: string): SigningKey[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error('must be a JSON array of {"kid", "private_key"} objects');
  }
  const list = z.array(keyEntry).min(1, 'must list at least one key').safeParse(raw);
  if (!list.success) throw new Error(list.error.issues.map((i) => `${i.path.join('.') || 'keys'}: ${i.message}`).join('; '));
  const seen = new Set<string>();
  return list.data.map((entry, i) => {
    if (seen.has(entry.kid)) throw new Error(`kid "${entry.kid}" appears twice`);
    seen.add(entry.kid);
    let privateKey: KeyObject | undefined;
    let publicKey: KeyObject;
    try {
      privateKey = entry.private_key ? createPrivateKey(entry.private_key) : undefined;
      publicKey = privateKey ? createPublicKey(privateKey) : createPublicKey(entry.public_key!);
    } catch {
      throw new Error(`key "${entry.kid}" is not a readable PEM key`);
    }
    assertP256(publicKey, entry.kid);
    if (i === 0 && !privateKey) throw new Error(`the first key ("${entry.kid}") signs, so it needs private_key`);
    return { kid: entry.kid, privateKey, publicKey };
  });
}

/** A fresh ES256 key as one `JWT_SIGNING_KEYS` entry (standalone secrets, tests, operators). */
export function generateSigningKey(kid = `k${new Date().toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(4).toString('hex')}`): { kid: string; private_key: string } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, private_key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

export interface Jwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  alg: typeof USER_TOKEN_ALG;
  use: 'sig';
}

/** RFC 7517 key set of the public halves; what identity serves at /internal/jwks. */
export function toJwks(keys: SigningKey[]): { keys: Jwk[] } {
  return {
    keys: keys.map((k) => {
      const { x, y } = k.publicKey.export({ format: 'jwk' }) as { x: string; y: string };
      return { kty: 'EC', crv: 'P-256', x, y, kid: k.kid, alg: USER_TOKEN_ALG, use: 'sig' };
    }),
  };
}

const jwkSchema = z.object({
  kty: z.literal('EC'),
  crv: z.literal('P-256'),
  x: z.string().min(1).max(100),
  y: z.string().min(1).max(100),
  kid: z.string().regex(KID),
  alg: z.literal(USER_TOKEN_ALG).optional(),
  use: z.literal('sig').optional(),
});

/** Reads a JWKS into kid -> public key, skipping entries that are not ES256 signing keys. */
export function keysFromJwks(body: unknown): Map<string, KeyObject> {
  const out = new Map<string, KeyObject>();
  const list = (body as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(list)) throw new Error('JWKS has no "keys" array');
  for (const entry of list) {
    const jwk = jwkSchema.safeParse(entry);
    if (!jwk.success) continue;
    try {
      const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: jwk.data.x, y: jwk.data.y }, format: 'jwk' });
      out.set(jwk.data.kid, key);
    } catch {
      // A point that is not on the curve: not a usable key.
    }
  }
  return out;
}

export interface TokenOptions {
  issuer: string;
  audience: string;
}

/** Signs a user token with the key, valid for ttlS seconds. */
export function signUserToken(claims: UserClaims, key: SigningKey, opts: TokenOptions & { ttlS: number; now?: Date }): string {
  if (!key.privateKey) throw new Error(`key "${key.kid}" cannot sign`);
  const iat = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  return jwt.sign({ ...claims, iat, exp: iat + opts.ttlS }, key.privateKey, {
    algorithm: USER_TOKEN_ALG,
    keyid: key.kid,
    issuer: opts.issuer,
    audience: opts.audience,
    jwtid: randomUUID(),
  });
}

const SEGMENT = /^[A-Za-z0-9_-]+$/;
/** Three base64url segments whose header is JSON: the shape of a JWT (every JWT header starts "eyJ"). */
export const looksLikeJwt = (s: string): boolean => {
  const parts = s.split('.');
  return parts.length === 3 && s.startsWith('eyJ') && SEGMENT.test(parts[0]) && SEGMENT.test(parts[1]) && (parts[2] === '' || SEGMENT.test(parts[2]));
};

/** The unverified header: only to pick the key. null when it is not a JWT header. */
export function tokenHeader(token: string): { alg: string; kid: string | null } | null {
  if (!looksLikeJwt(token)) return null;
  try {
    const h = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8')) as { alg?: unknown; kid?: unknown };
    if (typeof h !== 'object' || h === null || typeof h.alg !== 'string') return null;
    return { alg: h.alg, kid: typeof h.kid === 'string' ? h.kid : null };
  } catch {
    return null;
  }
}

/**
 * The claims of a valid user token signed by `key`: algorithm pinned to ES256, signature,
 * issuer, audience and expiry (which must be present) checked. null for anything else.
 */
export function verifyUserToken(token: string, key: KeyObject, opts: TokenOptions & { now?: Date }): UserClaims | null {
  const header = tokenHeader(token);
  if (!header || header.alg !== USER_TOKEN_ALG) return null;
  try {
    const decoded = jwt.verify(token, key, {
      algorithms: [USER_TOKEN_ALG],
      issuer: opts.issuer,
      audience: opts.audience,
      clockTolerance: USER_TOKEN_CLOCK_TOLERANCE_S,
      clockTimestamp: opts.now ? Math.floor(opts.now.getTime() / 1000) : undefined,
    });
    if (typeof decoded !== 'object' || decoded === null || typeof decoded.exp !== 'number') return null;
    const claims = userClaimsSchema.safeParse(decoded);
    return claims.success ? claims.data : null;
  } catch {
    return null;
  }
}
