import { loadConfig, serviceBaseSchema, port, csv, z } from '@platform/config';

export const configSchema = serviceBaseSchema.extend({
  PORT: port(8104),
  /** Wallets' internal API: the prepaid balance every paid call is debited from. */
  WALLETS_URL: z.string().url().default('http://127.0.0.1:8102'),
  WALLETS_TIMEOUT_MS: z.coerce.number().int().min(50).max(30_000).default(2_000),
  /** Hosts the proxy may reach even though they resolve to private or loopback addresses (tests, on-prem providers). */
  OUTBOUND_ALLOW_HOSTS: csv,
  /** How long a provider may take to start answering before the call is a 504 and refunded. */
  UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(1).max(600_000).default(30_000),
  /** How often unfinished refunds and abandoned calls are retried. */
  REFUND_SWEEP_MS: z.coerce.number().int().min(20).max(600_000).default(5_000),
});
export type Config = ReturnType<typeof readConfig>;
export const readConfig = (env: Record<string, string | undefined> = process.env) => loadConfig(configSchema, env);
