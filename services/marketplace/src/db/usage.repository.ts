import type { SqlClient } from '@platform/events';
import type { Db } from './client';

/** One proxied call as service.called reports it. */
export interface CallFacts {
  serviceId: string;
  providerId: string;
  buyerId: string;
  statusCode: number;
  latencyMs: number;
  amountMicros: bigint;
  at: Date;
}

export interface ServiceUsageTotals {
  serviceId: string;
  calls: number;
  latencyTotalMs: number;
  revenueMicros: bigint;
}

export type Milestone = 'first_key_at' | 'first_call_at' | 'first_settlement_at';

const utcDay = (d: Date) => d.toISOString().slice(0, 10);

/**
 * The usage read model: what service.called (and the onboarding events) tell marketplace.
 * Writes run inside the consumer's transaction, beside its processed_events row, so a
 * redelivered event never counts twice.
 */
export function usageRepository(db: Db) {
  return {
    async recordCall(tx: SqlClient, c: CallFacts): Promise<void> {
      const ok = c.statusCode < 400 ? 1 : 0;
      await tx.$executeRawUnsafe(
        `INSERT INTO "service_usage_daily" ("service_id", "day", "provider_id", "call_count", "success_count", "latency_total_ms", "revenue_micros")
         VALUES ($1::uuid, $2::date, $3, 1, $4, $5, $6::bigint)
         ON CONFLICT ("service_id", "day") DO UPDATE SET
           "call_count" = "service_usage_daily"."call_count" + 1,
           "success_count" = "service_usage_daily"."success_count" + EXCLUDED."success_count",
           "latency_total_ms" = "service_usage_daily"."latency_total_ms" + EXCLUDED."latency_total_ms",
           "revenue_micros" = "service_usage_daily"."revenue_micros" + EXCLUDED."revenue_micros"`,
        c.serviceId,
        utcDay(c.at),
        c.providerId,
        ok,
        c.latencyMs,
        c.amountMicros.toString(),
      );
      await tx.$executeRawUnsafe(
        `INSERT INTO "buyer_service_usage" ("buyer_id", "service_id", "call_count", "first_called_at", "last_called_at")
         VALUES ($1, $2::uuid, 1, $3::timestamptz, $3::timestamptz)
         ON CONFLICT ("buyer_id", "service_id") DO UPDATE SET
           "call_count" = "buyer_service_usage"."call_count" + 1,
           "first_called_at" = LEAST("buyer_service_usage"."first_called_at", EXCLUDED."first_called_at"),
           "last_called_at" = GREATEST("buyer_service_usage"."last_called_at", EXCLUDED."last_called_at")`,
        c.buyerId,
        c.serviceId,
        c.at.toISOString(),
      );
    },

    /**
     * recordCall and the first_call_at milestone for many calls at once: the calls are summed
     * per row first, so each table takes ONE statement per batch, whatever its size.
     */
    async recordCalls(tx: SqlClient, calls: CallFacts[]): Promise<void> {
      if (!calls.length) return;
      const daily = new Map<string, { serviceId: string; day: string; providerId: string; calls: number; ok: number; latency: number; revenue: bigint }>();
      const buyers = new Map<string, { buyerId: string; serviceId: string; calls: number; first: Date; last: Date }>();
      const firsts = new Map<string, Date>();
      for (const call of calls) {
        // One UUID in two spellings is one row to PostgreSQL: key it once.
        const c = { ...call, serviceId: call.serviceId.toLowerCase() };
        const day = utcDay(c.at);
        const d = daily.get(`${c.serviceId}|${day}`) ?? { serviceId: c.serviceId, day, providerId: c.providerId, calls: 0, ok: 0, latency: 0, revenue: 0n };
        d.calls++;
        d.ok += c.statusCode < 400 ? 1 : 0;
        d.latency += c.latencyMs;
        d.revenue += c.amountMicros;
        daily.set(`${c.serviceId}|${day}`, d);
        const bk = `${c.buyerId}|${c.serviceId}`;
        const b = buyers.get(bk) ?? { buyerId: c.buyerId, serviceId: c.serviceId, calls: 0, first: c.at, last: c.at };
        b.calls++;
        if (c.at < b.first) b.first = c.at;
        if (c.at > b.last) b.last = c.at;
        buyers.set(bk, b);
        const f = firsts.get(c.providerId);
        if (!f || c.at < f) firsts.set(c.providerId, c.at);
      }
      const ds = [...daily.values()];
      await tx.$executeRawUnsafe(
        `INSERT INTO "service_usage_daily" ("service_id", "day", "provider_id", "call_count", "success_count", "latency_total_ms", "revenue_micros")
         SELECT * FROM unnest($1::uuid[], $2::date[], $3::text[], $4::int[], $5::int[], $6::bigint[], $7::bigint[])
         ON CONFLICT ("service_id", "day") DO UPDATE SET
           "call_count" = "service_usage_daily"."call_count" + EXCLUDED."call_count",
           "success_count" = "service_usage_daily"."success_count" + EXCLUDED."success_count",
           "latency_total_ms" = "service_usage_daily"."latency_total_ms" + EXCLUDED."latency_total_ms",
           "revenue_micros" = "service_usage_daily"."revenue_micros" + EXCLUDED."revenue_micros"`,
        ds.map((d) => d.serviceId),
        ds.map((d) => d.day),
        ds.map((d) => d.providerId),
        ds.map((d) => d.calls),
        ds.map((d) => d.ok),
        ds.map((d) => d.latency),
        ds.map((d) => d.revenue.toString()),
      );
      const bs = [...buyers.values()];
      await tx.$executeRawUnsafe(
        `INSERT INTO "buyer_service_usage" ("buyer_id", "service_id", "call_count", "first_called_at", "last_called_at")
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::int[], $4::timestamptz[], $5::timestamptz[])
         ON CONFLICT ("buyer_id", "service_id") DO UPDATE SET
           "call_count" = "buyer_service_usage"."call_count" + EXCLUDED."call_count",
           "first_called_at" = LEAST("buyer_service_usage"."first_called_at", EXCLUDED."first_called_at"),
           "last_called_at" = GREATEST("buyer_service_usage"."last_called_at", EXCLUDED."last_called_at")`,
        bs.map((b) => b.buyerId),
        bs.map((b) => b.serviceId),
        bs.map((b) => b.calls),
        bs.map((b) => b.first.toISOString()),
        bs.map((b) => b.last.toISOString()),
      );
      await tx.$executeRawUnsafe(
        `INSERT INTO "provider_milestones" ("provider_id", "first_call_at") SELECT * FROM unnest($1::text[], $2::timestamptz[])
         ON CONFLICT ("provider_id") DO UPDATE SET "first_call_at" = LEAST("provider_milestones"."first_call_at", EXCLUDED."first_call_at")`,
        [...firsts.keys()],
        [...firsts.values()].map((d) => d.toISOString()),
      );
    },

    /** Keeps the earliest time each onboarding fact was seen (LEAST ignores the NULL of a fact not seen yet). */
    async markMilestone(tx: SqlClient, providerId: string, milestone: Milestone, at: Date): Promise<void> {
      await tx.$executeRawUnsafe(
        `INSERT INTO "provider_milestones" ("provider_id", "${milestone}") VALUES ($1, $2::timestamptz)
         ON CONFLICT ("provider_id") DO UPDATE SET "${milestone}" = LEAST("provider_milestones"."${milestone}", EXCLUDED."${milestone}")`,
        providerId,
        at.toISOString(),
      );
    },

    milestones: (providerId: string) => db.providerMilestone.findUnique({ where: { providerId } }),

    /** Active services by calls in the last `days` UTC days (today included), busiest first. */
    async trending(days: number, limit: number): Promise<{ serviceId: string; calls: number; latencyTotalMs: number }[]> {
      const rows = await db.$queryRawUnsafe<{ service_id: string; calls: bigint; latency: bigint }[]>(
        `SELECT u."service_id", SUM(u."call_count")::bigint AS calls, SUM(u."latency_total_ms")::bigint AS latency
           FROM "service_usage_daily" u JOIN "services" s ON s."id" = u."service_id"
          WHERE u."day" > (now() AT TIME ZONE 'UTC')::date - $1::int AND s."status" = 'active'
          GROUP BY u."service_id"
          ORDER BY calls DESC, SUM(u."latency_total_ms")::float8 / SUM(u."call_count") ASC, u."service_id" ASC
          LIMIT $2`,
        days,
        limit,
      );
      return rows.map((r) => ({ serviceId: r.service_id, calls: Number(r.calls), latencyTotalMs: Number(r.latency) }));
    },

    /**
     * Active services in the categories this buyer calls most (by its call count there),
     * excluding every service it has called; within a category, the most called first.
     */
    async recommendations(buyerId: string, limit: number): Promise<string[]> {
      const rows = await db.$queryRawUnsafe<{ id: string }[]>(
        `WITH used AS (
           SELECT "service_id", "call_count" FROM "buyer_service_usage" WHERE "buyer_id" = $1
         ), categories AS (
           SELECT s."category", SUM(u."call_count") AS calls
             FROM used u JOIN "services" s ON s."id" = u."service_id"
            WHERE s."category" <> ''
            GROUP BY s."category"
         )
         SELECT s."id" FROM "services" s
           JOIN categories c ON c."category" = s."category"
           LEFT JOIN LATERAL (SELECT COALESCE(SUM(d."call_count"), 0) AS calls FROM "service_usage_daily" d WHERE d."service_id" = s."id") p ON true
          WHERE s."status" = 'active' AND NOT EXISTS (SELECT 1 FROM used WHERE used."service_id" = s."id")
          ORDER BY c.calls DESC, p.calls DESC, s."created_at" DESC, s."id" ASC
          LIMIT $2`,
        buyerId,
        limit,
      );
      return rows.map((r) => r.id);
    },

    /** All-time totals for the given services (the provider's own list). */
    async totalsFor(serviceIds: string[]): Promise<Map<string, ServiceUsageTotals>> {
      if (!serviceIds.length) return new Map();
      const groups = await db.serviceUsageDaily.groupBy({
        by: ['serviceId'],
        where: { serviceId: { in: serviceIds } },
        _sum: { callCount: true, latencyTotalMs: true, revenueMicros: true },
      });
      return new Map(
        groups.map((g) => [
          g.serviceId,
          {
            serviceId: g.serviceId,
            calls: g._sum.callCount ?? 0,
            latencyTotalMs: Number(g._sum.latencyTotalMs ?? 0n),
            revenueMicros: g._sum.revenueMicros ?? 0n,
          },
        ]),
      );
    },
  };
}
export type UsageRepository = ReturnType<typeof usageRepository>;
