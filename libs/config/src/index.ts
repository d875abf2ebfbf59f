import { z } from 'zod';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Parses the environment once at boot. A missing or invalid variable fails with its name,
 * so an operator sees "KAFKA_BROKERS: Required" rather than a stack trace later.
 */
export function loadConfig<S extends z.ZodObject<z.ZodRawShape>>(
  schema: S,
  env: Record<string, string | undefined> = process.env,
): z.infer<S> {
  const result = schema.safeParse(env);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return result.data;
}

/** Comma-separated list, trimmed, empties dropped. */
export const csv = z
  .string()
  .optional()
  .transform((v) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean));

export const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);

export const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .optional()
    .transform((v) => (v === undefined ? fallback : ['true', '1', 'yes'].includes(v)));

/** Settings every service process reads, with the same names everywhere. */
export const serviceBaseSchema = z.object({
  PORT: port(0),
  HOST: z.string().default('127.0.0.1'),
  DATABASE_URL: z.string().url(),
  KAFKA_BROKERS: csv,
  INTERNAL_TOKEN_SECRET: z.string().min(32, 'must be at least 32 characters'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  OUTBOX_POLL_MS: z.coerce.number().int().min(5).max(60_000).default(50),
  /**
   * The outbox relay LISTENs on the service's database and is told of each commit (NOTIFY), so
   * it polls only every OUTBOX_LISTEN_POLL_MS; off (standalone's one-connection PGlite) it polls every OUTBOX_POLL_MS.
   */
  OUTBOX_LISTEN: bool(true),
  OUTBOX_LISTEN_POLL_MS: z.coerce.number().int().min(5).max(60_000).default(1_000),
  /**
   * How long the relay lets committed events gather before it publishes them (like Kafka's
   * linger.ms): under load one produce request carries many events instead of one or two.
   */
  OUTBOX_LINGER_MS: z.coerce.number().int().min(0).max(1_000).default(10),
  /**
   * A service consumer's Kafka fetch waits for this many bytes, or this long, whichever comes
   * first: under load one fetch (one transaction) carries hundreds of events; idle, the wait is
   * how often each consumer asks the broker, and how stale a read model may be.
   */
  KAFKA_FETCH_MIN_BYTES: z.coerce.number().int().min(1).max(16 * 1024 * 1024).default(64 * 1024),
  KAFKA_FETCH_MAX_WAIT_MS: z.coerce.number().int().min(10).max(10_000).default(500),
});
export type ServiceBaseConfig = z.infer<typeof serviceBaseSchema>;

export { z };
