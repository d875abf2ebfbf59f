import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Uniform base62 from the CSPRNG: bytes >= 248 are dropped so `% 62` has no bias. */
export function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b < 248) out += ALPHABET[b % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/**
 * Token shapes per family. The random part is 40 base62 characters (~238 bits) everywhere;
 * spec 002 key ids are `acf_` + 16 (spec example `acf_a1b2c3d4e5f6g7h8`).
 */
export const TOKEN_PATTERNS = {
  acf: /^(acf_[A-Za-z0-9]{16}):(sec_[A-Za-z0-9]{40})$/,
  bks: /^bks_live_[A-Za-z0-9]{40}$/,
  pa: /^pa_[A-Za-z0-9]{40}$/,
  ig: /^ig_(live|test)_[A-Za-z0-9]{40}$/,
} as const;
export type KeyFamily = keyof typeof TOKEN_PATTERNS;

export const ACF_KEY_ID = /^acf_[A-Za-z0-9]{16}$/;
export const ACF_SECRET = /^sec_[A-Za-z0-9]{40}$/;

export const newAcfKeyId = () => `acf_${randomBase62(16)}`;
export const newAcfSecret = () => `sec_${randomBase62(40)}`;
export const newBksKey = () => `bks_live_${randomBase62(40)}`;
export const newPaKey = () => `pa_${randomBase62(40)}`;
export const newIgKey = (mode: 'live' | 'test') => `ig_${mode}_${randomBase62(40)}`;

/** What a listing may show of a token: its family prefix and four characters. */
export function displayPrefix(token: string): string {
  const family = /^(bks_live_|ig_live_|ig_test_|pa_|sec_|acf_)/.exec(token)?.[1] ?? '';
  return token.slice(0, family.length + 4);
}

/**
 * Secrets are stored only as HMAC-SHA256 under a pepper kept outside the database, so a
 * leaked table alone cannot be brute-forced offline. Comparison is constant-time.
 */
export class SecretHasher {
  private readonly pepper: Buffer;
  constructor(pepper: string) {
    if (pepper.length < 32) throw new Error('KEY_HASH_SECRET must be at least 32 characters');
    this.pepper = Buffer.from(pepper, 'utf8');
  }

  hash(secret: string): string {
    return createHmac('sha256', this.pepper).update(secret, 'utf8').digest('hex');
  }

  matches(secret: string, storedHex: string): boolean {
    const actual = createHmac('sha256', this.pepper).update(secret, 'utf8').digest();
    const expected = Buffer.from(storedHex, 'hex');
    return expected.length === actual.length && timingSafeEqual(actual, expected);
  }
}

/** Which family a raw credential belongs to, and its parts; null when it is none of ours. */
export function parseCredential(raw: string): { family: KeyFamily; keyId?: string; secret: string } | null {
  const acf = TOKEN_PATTERNS.acf.exec(raw);
  if (acf) return { family: 'acf', keyId: acf[1], secret: acf[2] };
  for (const family of ['bks', 'pa', 'ig'] as const) {
    if (TOKEN_PATTERNS[family].test(raw)) return { family, secret: raw };
  }
  return null;
}
