import type { Outbox, SqlClient } from '@platform/events';
import type { ServiceRow } from '../db/services.repository';

type ServiceEvent = 'service.registered' | 'service.updated' | 'service.removed';

/**
 * What marketplace emits. Metering builds its price list from these, so the payload carries
 * the private endpoint and the exact price in micro-USDC (libs/events catalogue).
 */
export function servicePublishers(outbox: Outbox) {
  const stage = (type: ServiceEvent) => (tx: SqlClient, s: ServiceRow) =>
    outbox.stage(tx, type, s.id, {
      service_id: s.id,
      provider_id: s.providerId,
      name: s.name,
      endpoint: s.endpoint,
      price_micros: s.priceMicros.toString(),
      payment_method: s.paymentMethod,
      free_tier_calls: s.freeTierCalls,
      status: s.status as 'active' | 'paused' | 'removed',
      category: s.category,
      tags: s.tags,
    });
  return {
    registered: stage('service.registered'),
    updated: stage('service.updated'),
    removed: stage('service.removed'),
  };
}
export type ServicePublishers = ReturnType<typeof servicePublishers>;
