import { loadConfig, serviceBaseSchema, port, csv, z } from '@platform/config';

/**
 * WEBHOOK_SECRET_KEY encrypts subscription secrets at rest (AES-256-GCM); they must be
 * recoverable to sign deliveries, so hashing is not an option. 32 bytes, hex or base64.
 */
const secretKey = z.string().transform((v, ctx) => {
  const text = v.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : /^[A-Za-z0-9+/]{43}=?$/.test(text) ? Buffer.from(text, 'base64') : undefined;
  if (!key || key.length !== 32) {
    ctx.addIssue({ code: 'custom', message: 'must be 32 bytes as 64 hex characters or base64' });
    return z.NEVER;
  }
  return key;
});

export const configSchema = serviceBaseSchema.extend({
  PORT: port(8108),
  WEBHOOK_SECRET_KEY: secretKey,
  /** Hosts (or host:port) deliveries may reach although they resolve to private or loopback addresses; also lets them use http. */
  OUTBOUND_ALLOW_HOSTS: csv,
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  /** First retry delay; later ones double (spec 002: 1 s, 2 s, 4 s). Tests shorten it. */
  WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(1).max(600_000).default(1_000),
  WEBHOOK_MAX_RETRIES: z.coerce.number().int().min(0).max(10).default(3),
  WEBHOOK_POLL_MS: z.coerce.number().int().min(5).max(60_000).default(250),
  WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(8),
});
export type Config = ReturnType<typeof readConfig>;
export const readConfig = (env: Record<string, string | undefined> = process.env) => loadConfig(configSchema, env);
