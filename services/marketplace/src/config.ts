import { loadConfig, serviceBaseSchema, port, csv, z } from '@platform/config';

export const configSchema = serviceBaseSchema.extend({
  PORT: port(8103),
  /** Hosts the endpoint test may reach although they resolve to private or loopback addresses (tests, on-prem providers). */
  OUTBOUND_ALLOW_HOSTS: csv,
  /** How long POST /api/v1/provider/services/{id}/test waits for the provider's answer. */
  ENDPOINT_TEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  /** The window GET /api/v1/discover/trending counts calls in, in days. */
  TRENDING_WINDOW_DAYS: z.coerce.number().int().min(1).max(365).default(7),
});
export type Config = ReturnType<typeof readConfig>;
export const readConfig = (env: Record<string, string | undefined> = process.env) => loadConfig(configSchema, env);
