import { PrismaPg } from '@prisma/adapter-pg';

/**
 * The pg driver adapter every service's Prisma client uses. Standalone mode serves each
 * database from PGlite over one socket connection, so it asks for a pool of one.
 */
export function pgAdapter(databaseUrl: string, opts: { max?: number } = {}): PrismaPg {
  const max = opts.max ?? (process.env.PG_POOL_MAX ? Number(process.env.PG_POOL_MAX) : 10);
  return new PrismaPg({ connectionString: databaseUrl, max, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 30_000 });
}
