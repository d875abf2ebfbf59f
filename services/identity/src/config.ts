import { loadConfig, serviceBaseSchema, port, z } from '@platform/config';
import { parseSigningKeys } from '@platform/auth';

/** `acf_<16>:sec_<40>`, the shape of every spec 002 key (see domain/key-material.ts). */
const bootstrapKey = z
  .string()
  .regex(/^acf_[A-Za-z0-9]{16}:sec_[A-Za-z0-9]{40}$/, 'must be "acf_<16 letters or digits>:sec_<40 letters or digits>"')
  .optional();

export const configSchema = serviceBaseSchema.extend({
  PORT: port(8101),
  /** Pepper for the keyed hash of every stored secret; rotating it invalidates every key. */
  KEY_HASH_SECRET: z.string().min(32, 'must be at least 32 characters'),
  /** The first admin key, inserted (hashed) at start when absent. */
  BOOTSTRAP_ADMIN_KEY: bootstrapKey,
  BOOTSTRAP_ADMIN_OWNER: z.string().min(1).max(128).default('platform-admin'),
  /** Where clients reach the platform; spec 000 `_links` are built from it. */
  PUBLIC_BASE_URL: z
    .string()
    .url()
    .default('http://localhost:8000')
    .transform((u) => u.replace(/\/+$/, '')),
  /** Credits granted by self-onboarding (spec 000: 100). Wallets grants them from `agent.onboarded`. */
  ONBOARD_FREE_CREDITS: z.coerce.number().int().min(0).max(1_000_000).default(100),
  /**
   * Spec 001 user tokens: a JSON array of ES256 keys `[{"kid", "private_key": "<PKCS#8 PEM>"}]`;
   * the first signs, all verify (rotation: prepend the new key, drop the old one after JWT_TTL_S).
   */
  JWT_SIGNING_KEYS: z.string().transform((text, ctx) => {
    try {
      return parseSigningKeys(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  }),
  /** `iss` and `aud` of user tokens; the gateway checks the same values. */
  JWT_ISSUER: z.string().min(1).max(200).default('platform-identity'),
  JWT_AUDIENCE: z.string().min(1).max(200).default('platform-api'),
  /** Lifetime of a user token; short, because org and role changes reach a token only when it is renewed. */
  JWT_TTL_S: z.coerce.number().int().min(30).max(86_400).default(900),
  /** The RFC 3986 authority SIWE messages must name; default: the host of PUBLIC_BASE_URL. */
  SIWE_DOMAIN: z.string().min(1).max(255).optional(),
  /** EIP-155 chain ids a SIWE message may name (comma-separated; Base mainnet by default). */
  SIWE_CHAIN_IDS: z
    .string()
    .default('8453')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .pipe(z.array(z.string().regex(/^[1-9][0-9]{0,15}$/, 'must be positive integers').transform(Number)).min(1, 'must list at least one chain id')),
  /** How long a SIWE nonce stays usable, and the oldest `Issued At` accepted. */
  SIWE_NONCE_TTL_S: z.coerce.number().int().min(10).max(3_600).default(300),
  /** Device flow (RFC 8628): code lifetime, minimum seconds between polls, and where users enter the code. */
  DEVICE_CODE_TTL_S: z.coerce.number().int().min(1).max(3_600).default(600),
  DEVICE_POLL_INTERVAL_S: z.coerce.number().int().min(1).max(60).default(5),
  DEVICE_VERIFICATION_URL: z.string().url().optional(),
  /** Failed logins and key validations allowed per window, per account and per client address. */
  AUTH_FAILURE_WINDOW_S: z.coerce.number().int().min(1).max(86_400).default(900),
  AUTH_MAX_FAILURES_PER_ACCOUNT: z.coerce.number().int().min(1).max(10_000).default(10),
  AUTH_MAX_FAILURES_PER_IP: z.coerce.number().int().min(1).max(100_000).default(50),
});
export type Config = ReturnType<typeof readConfig>;
export const readConfig = (env: Record<string, string | undefined> = process.env) => {
  const c = loadConfig(configSchema, env);
  return {
    ...c,
    SIWE_DOMAIN: c.SIWE_DOMAIN ?? new URL(c.PUBLIC_BASE_URL).host,
    DEVICE_VERIFICATION_URL: c.DEVICE_VERIFICATION_URL ?? `${c.PUBLIC_BASE_URL}/device`,
  };
};
