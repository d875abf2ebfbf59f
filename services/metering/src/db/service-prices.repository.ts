import type { SqlClient } from '@platform/events';
import type { Db } from './client';
import type { ServicePrice } from '../generated/prisma/client';

export type ServicePriceRow = ServicePrice;

export interface ServiceFacts {
  serviceId: string;
  providerId: string;
  name: string;
  endpoint: string;
  priceMicros: bigint;
  paymentMethod: string;
  freeTierCalls: number;
  status: string;
  category: string;
  eventTime: Date;
  slug: string;
  endpointHost: string;
}

export function servicePricesRepository(db: Db) {
  return {
    find: (serviceId: string) => db.servicePrice.findUnique({ where: { serviceId } }),
    /** Services (not removed) answering to a spec 001 slug; more than one means the slug is ambiguous. */
    bySlug: (slug: string) => db.servicePrice.findMany({ where: { slug, status: { not: 'removed' } }, orderBy: { eventTime: 'asc' }, take: 5 }),
    /** Services (not removed) whose endpoint is on this host[:port], for pricing an external URL. */
    byHost: (endpointHost: string) => db.servicePrice.findMany({ where: { endpointHost, status: { not: 'removed' } }, take: 50 }),
    /**
     * Upsert that keeps the newest fact: a late, older event (redelivery after a newer one)
     * leaves the row alone. Equal times apply, since a subject's events arrive in order.
     */
    async apply(tx: SqlClient, f: ServiceFacts): Promise<void> {
      await tx.$executeRawUnsafe(
        `INSERT INTO "service_prices" ("service_id", "provider_id", "name", "endpoint", "price_micros", "payment_method", "free_tier_calls", "status", "category", "event_time", "slug", "endpoint_host")
         VALUES ($1, $2, $3, $4, $5::bigint, $6, $7, $8, $9, $10::timestamptz, $11, $12)
         ON CONFLICT ("service_id") DO UPDATE SET
           "provider_id" = EXCLUDED."provider_id", "name" = EXCLUDED."name", "endpoint" = EXCLUDED."endpoint",
           "price_micros" = EXCLUDED."price_micros", "payment_method" = EXCLUDED."payment_method",
           "free_tier_calls" = EXCLUDED."free_tier_calls", "status" = EXCLUDED."status",
           "category" = EXCLUDED."category", "event_time" = EXCLUDED."event_time",
           "slug" = EXCLUDED."slug", "endpoint_host" = EXCLUDED."endpoint_host"
         WHERE "service_prices"."event_time" <= EXCLUDED."event_time"`,
        f.serviceId,
        f.providerId,
        f.name,
        f.endpoint,
        f.priceMicros.toString(),
        f.paymentMethod,
        f.freeTierCalls,
        f.status,
        f.category,
        f.eventTime.toISOString(),
        f.slug,
        f.endpointHost,
      );
    },
  };
}
export type ServicePricesRepository = ReturnType<typeof servicePricesRepository>;
