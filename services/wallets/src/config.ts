import { z } from 'zod';
import { loadConfig, serviceBaseSchema, port, bool } from '@platform/config';

export const configSchema = serviceBaseSchema.extend({
  PORT: port(8102),
  /** Mounts /dev/balance and /dev/balance/fund (self-funding without a chain). Never in production. */
  DEV_ROUTES: bool(false),
  /** Ledger transactions run at once; keep below the Prisma pool (PG_POOL_MAX, default 10). */
  LEDGER_TX_CONCURRENCY: z.coerce.number().int().min(1).max(200).default(8),
  /** Ledger transactions that may wait for a slot; past this a movement is refused with 503. */
  LEDGER_TX_QUEUE: z.coerce.number().int().min(0).max(100_000).default(5_000),
});
export type Config = ReturnType<typeof readConfig>;
export const readConfig = (env: Record<string, string | undefined> = process.env) => loadConfig(configSchema, env);
