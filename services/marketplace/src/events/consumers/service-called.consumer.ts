import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { UsageRepository } from '../../db/usage.repository';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Every proxied call feeds trending, recommendations, the provider's per-service totals and
 * the first_traffic onboarding step. Applied once per event id (processed_events).
 */
export function serviceCalledConsumer(usage: UsageRepository): Consumer<Db> {
  return {
    name: 'service-called',
    types: ['service.called'],
    async handle(event, tx) {
      if (event.type !== 'service.called') return;
      const d = event.data;
      // Marketplace ids are UUIDs; a call for anything else names no service listed here.
      if (!UUID.test(d.service_id)) return;
      const at = new Date(event.time);
      await usage.recordCall(tx, {
        serviceId: d.service_id.toLowerCase(),
        providerId: d.provider_id,
        buyerId: d.buyer_id,
        statusCode: d.status_code,
        latencyMs: d.latency_ms,
        amountMicros: BigInt(d.amount_micros),
        at,
      });
      await usage.markMilestone(tx, d.provider_id, 'first_call_at', at);
    },
  };
}
