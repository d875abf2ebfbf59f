import { loadConfig, serviceBaseSchema, port, z } from '@platform/config';

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
});
export type Config = ReturnType<typeof readConfig>;
export const readConfig = (env: Record<string, string | undefined> = process.env) => loadConfig(configSchema, env);
