import { Pool, PoolClient } from 'pg';
import { SqlClient, SqlDatabase } from '../src';

/** A plain pg implementation of the outbox's database port (services pass their Prisma client). */
function clientOf(q: { query: Pool['query'] | PoolClient['query'] }): SqlClient {
  return {
    async $executeRawUnsafe(sql: string, ...values: unknown[]) {
      const r = await (q.query as (s: string, v: unknown[]) => Promise<{ rowCount: number | null }>)(sql, values);
      return r.rowCount ?? 0;
    },
    async $queryRawUnsafe<T>(sql: string, ...values: unknown[]) {
      const r = await (q.query as (s: string, v: unknown[]) => Promise<{ rows: unknown[] }>)(sql, values);
      return r.rows.map((row) => {
        const out = { ...(row as Record<string, unknown>) };
        if (typeof out.seq === 'string') out.seq = BigInt(out.seq);
        return out;
      }) as T;
    },
  };
}

export function pgDatabase(pool: Pool): SqlDatabase {
  return {
    ...clientOf(pool),
    async $transaction<R>(fn: (tx: SqlClient) => Promise<R>) {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        const r = await fn(clientOf(c));
        await c.query('COMMIT');
        return r;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        c.release();
      }
    },
  };
}
