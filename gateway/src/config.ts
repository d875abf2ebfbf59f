import { loadConfig, csv, port, z } from '@platform/config';

/** One service's upstream: a comma-separated list of replica base URLs, used round-robin. */
const upstream = (fallbackPort: number) =>
  csv.transform((urls) => (urls.length ? urls : [`http://127.0.0.1:${fallbackPort}`]).map((u) => u.replace(/\/+$/, ''))).pipe(z.array(z.string().url()).min(1));

/**
 * Express `trust proxy`: "false" (default: the socket address is the client), "true", a hop
 * count, or a list of trusted addresses/subnets ("loopback, 10.0.0.0/8").
 */
const trustProxy = z
  .string()
  .default('false')
  .transform((v): boolean | number | string => (v === 'true' ? true : v === 'false' ? false : /^\d+$/.test(v) ? Number(v) : v));

export const configSchema = z.object({
  PORT: port(8000),
  HOST: z.string().default('127.0.0.1'),
  INTERNAL_TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters'),
  KAFKA_BROKERS: csv,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  /** Unset: the in-memory rate-limit store (standalone mode, one process). */
  REDIS_URL: z.preprocess((v) => (v === '' ? undefined : v), z.string().url().optional()),
  REDIS_KEY_PREFIX: z.string().max(64).default('gw:'),
  RATE_LIMIT_IP_PER_MIN: z.coerce.number().int().min(1).max(1_000_000).default(60),
  RATE_LIMIT_IP_BURST: z.coerce.number().int().min(1).max(1_000_000).default(120),
  AUTH_CACHE_TTL_S: z.coerce.number().int().min(0).max(3600).default(30),
  /** Spec 001 user tokens: the `iss` and `aud` identity signs with (its JWT_ISSUER / JWT_AUDIENCE). */
  JWT_ISSUER: z.string().min(1).max(200).default('platform-identity'),
  JWT_AUDIENCE: z.string().min(1).max(200).default('platform-api'),
  /** Identity's key set is refreshed in the background once older than this (a removed kid stops verifying then). */
  JWKS_MAX_AGE_S: z.coerce.number().int().min(1).max(86_400).default(300),
  /** An unknown kid triggers a refetch at most this often, so junk tokens cannot hammer identity. */
  JWKS_MIN_REFRESH_S: z.coerce.number().int().min(0).max(3_600).default(10),
  VERIFY_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(3_000),
  PROXY_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(65_000),
  TRUST_PROXY: trustProxy,
  /** How clients reach the gateway; used in the discovery documents. */
  PUBLIC_BASE_URL: z
    .string()
    .url()
    .default('http://localhost:8000')
    .transform((u) => u.replace(/\/+$/, '')),
  IDENTITY_URL: upstream(8101),
  WALLETS_URL: upstream(8102),
  MARKETPLACE_URL: upstream(8103),
  METERING_URL: upstream(8104),
  REPUTATION_URL: upstream(8105),
  SETTLEMENTS_URL: upstream(8106),
  RUNTIME_URL: upstream(8107),
  WEBHOOKS_URL: upstream(8108),
});
export type GatewayConfig = z.infer<typeof configSchema>;
export const readConfig = (env: Record<string, string | undefined> = process.env): GatewayConfig => loadConfig(configSchema, env);
