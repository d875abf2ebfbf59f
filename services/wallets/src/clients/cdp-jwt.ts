import { createPrivateKey, createPublicKey, KeyObject, randomBytes, sign } from 'node:crypto';

/**
 * Coinbase Developer Platform (CDP) API-key authentication: every request carries a fresh JWT
 * signed with the key's secret, bound to that one request and valid for two minutes.
 *   header  {"alg": "ES256" | "EdDSA", "kid": <key name>, "typ": "JWT", "nonce": <16 random bytes, hex>}
 *   payload {"iss": "cdp", "sub": <key name>, "aud": ["cdp_service"], "iat", "nbf": now, "exp": now + 120,
 *            "uris": ["<METHOD> <host><path>"]}
 * The secret is either a PEM EC (P-256) private key, signed with ES256, or CDP's base64 Ed25519
 * key (32-byte seed followed by the 32-byte public key), signed with EdDSA. Built on node:crypto
 * so no JOSE library is needed; error messages never carry the secret.
 */
export type CdpAlg = 'ES256' | 'EdDSA';

export interface CdpKey {
  alg: CdpAlg;
  privateKey: KeyObject;
}

/** CDP's own lifetime (its docs: "Your JWT expires after 2 minutes"). */
export const CDP_JWT_TTL_S = 120;

export class CdpKeyError extends Error {}

/**
 * Reads an API key secret as CDP hands it out. A PEM given on one line with `\n` escapes (how
 * CDP's docs suggest putting it in an environment variable) is accepted too.
 */
export function parseCdpKeySecret(secret: string): CdpKey {
  const text = secret.trim();
  if (text.startsWith('-----BEGIN')) {
    const pem = text.includes('\n') ? text : text.replace(/\\n/g, '\n');
    let key: KeyObject;
    try {
      key = createPrivateKey(pem);
    } catch {
      throw new CdpKeyError('is not a readable PEM private key');
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new CdpKeyError('must be an EC P-256 private key (ES256) or a base64 Ed25519 key');
    }
    return { alg: 'ES256', privateKey: key };
  }
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new CdpKeyError('must be a PEM EC private key or a base64 Ed25519 key');
  const raw = Buffer.from(text, 'base64');
  if (raw.length !== 64) throw new CdpKeyError(`a base64 Ed25519 key must decode to 64 bytes (seed and public key), got ${raw.length}`);
  const seed = raw.subarray(0, 32);
  const publicKey = raw.subarray(32);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: seed.toString('base64url'), x: publicKey.toString('base64url') }, format: 'jwk' });
  } catch {
    throw new CdpKeyError('is not a valid Ed25519 key');
  }
  // A key whose two halves do not belong together would sign tokens CDP can never verify.
  const derived = createPublicKey(key).export({ format: 'jwk' }).x;
  if (derived !== publicKey.toString('base64url')) throw new CdpKeyError('is not a valid Ed25519 key: its public half does not match its seed');
  return { alg: 'EdDSA', privateKey: key };
}

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export interface CdpJwtSigner {
  alg: CdpAlg;
  /** A token for one request: `url` is the full URL the request goes to. */
  token(method: string, url: string | URL, now?: Date): string;
}

export function cdpJwtSigner(opts: { keyName: string; keySecret: string }): CdpJwtSigner {
  const key = parseCdpKeySecret(opts.keySecret);
  return {
    alg: key.alg,
    token(method, url, now = new Date()) {
      const u = typeof url === 'string' ? new URL(url) : url;
      const t = Math.floor(now.getTime() / 1000);
      const header = { alg: key.alg, kid: opts.keyName, typ: 'JWT', nonce: randomBytes(16).toString('hex') };
      const payload = {
        iss: 'cdp',
        sub: opts.keyName,
        aud: ['cdp_service'],
        iat: t,
        nbf: t,
        exp: t + CDP_JWT_TTL_S,
        // host includes a non-default port, as CDP's SDK writes it (URL.host).
        uris: [`${method.toUpperCase()} ${u.host}${u.pathname}`],
      };
      const input = `${b64url(header)}.${b64url(payload)}`;
      // JWS wants ES256 signatures as raw r||s (64 bytes), not DER; Ed25519 hashes internally.
      const sig =
        key.alg === 'ES256'
          ? sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
          : sign(null, Buffer.from(input), key.privateKey);
      return `${input}.${sig.toString('base64url')}`;
    },
  };
}
