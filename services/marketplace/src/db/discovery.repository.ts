import type { Db } from './client';
import type { ServiceRow } from './services.repository';

export type DiscoverSort = 'relevance' | 'created_at' | 'price' | 'name';

export interface DiscoverFilter {
  /** Words for websearch_to_tsquery ("nlp sentiment", "\"exact phrase\"", "-excluded", "a or b"). */
  q?: string;
  category?: string;
  /** Every listed tag must be on the service. */
  tags?: string[];
  minPriceMicros?: bigint;
  maxPriceMicros?: bigint;
  paymentMethod?: string;
  hasFreeTier?: boolean;
  sortBy: DiscoverSort;
  limit: number;
  offset: number;
}

const ORDER: Record<DiscoverSort, string> = {
  relevance: 'ts_rank(s."search_vector", q) DESC, s."created_at" DESC',
  created_at: 's."created_at" DESC',
  price: 's."price_micros" ASC, s."created_at" DESC',
  name: 'lower(s."name") ASC, s."created_at" DESC',
};

/**
 * Discovery over active services with PostgreSQL full-text search: the trigger-kept
 * `search_vector` (name A, tags B, description C) behind a GIN index, matched with
 * websearch_to_tsquery and ranked with ts_rank. Values are bound parameters, never spliced.
 */
export function discoveryRepository(db: Db) {
  return {
    async search(f: DiscoverFilter): Promise<{ rows: ServiceRow[]; total: number }> {
      const params: unknown[] = [];
      const bind = (v: unknown) => {
        params.push(v);
        return `$${params.length}`;
      };
      let from = '"services" s';
      const where = [`s."status" = 'active'`];
      if (f.q) {
        from += `, websearch_to_tsquery('english', ${bind(f.q)}) q`;
        where.push('s."search_vector" @@ q');
      }
      if (f.category) where.push(`s."category" = ${bind(f.category)}`);
      if (f.tags?.length) where.push(`s."tags" @> ${bind(f.tags)}::text[]`);
      if (f.minPriceMicros !== undefined) where.push(`s."price_micros" >= ${bind(f.minPriceMicros.toString())}::bigint`);
      if (f.maxPriceMicros !== undefined) where.push(`s."price_micros" <= ${bind(f.maxPriceMicros.toString())}::bigint`);
      if (f.paymentMethod) where.push(`s."payment_method" = ${bind(f.paymentMethod)}`);
      if (f.hasFreeTier !== undefined) where.push(f.hasFreeTier ? 's."free_tier_calls" > 0' : 's."free_tier_calls" = 0');
      const sortBy = f.sortBy === 'relevance' && !f.q ? 'created_at' : f.sortBy;
      const filter = `FROM ${from} WHERE ${where.join(' AND ')}`;
      const countParams = [...params];
      const page = `SELECT s."id" ${filter} ORDER BY ${ORDER[sortBy]}, s."id" ASC LIMIT ${bind(f.limit)} OFFSET ${bind(f.offset)}`;
      const [ids, count] = await Promise.all([
        db.$queryRawUnsafe<{ id: string }[]>(page, ...params),
        db.$queryRawUnsafe<{ n: bigint }[]>(`SELECT count(*)::bigint AS n ${filter}`, ...countParams),
      ]);
      return { rows: await byIdsInOrder(db, ids.map((r) => r.id)), total: Number(count[0]?.n ?? 0) };
    },

    /** Active services per non-empty category, most first. */
    async categories(): Promise<{ category: string; count: number }[]> {
      const rows = await db.$queryRawUnsafe<{ category: string; n: bigint }[]>(
        `SELECT "category", count(*)::bigint AS n FROM "services" WHERE "status" = 'active' AND "category" <> '' GROUP BY "category" ORDER BY n DESC, "category" ASC`,
      );
      return rows.map((r) => ({ category: r.category, count: Number(r.n) }));
    },

    byIdsInOrder: (ids: string[]) => byIdsInOrder(db, ids),
  };
}
export type DiscoveryRepository = ReturnType<typeof discoveryRepository>;

async function byIdsInOrder(db: Db, ids: string[]): Promise<ServiceRow[]> {
  if (!ids.length) return [];
  const rows = await db.service.findMany({ where: { id: { in: ids } } });
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => byId.get(id)).filter((r): r is ServiceRow => r !== undefined);
}
