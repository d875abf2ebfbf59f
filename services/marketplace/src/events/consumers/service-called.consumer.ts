import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { AnyEnvelope } from '@platform/events';
import type { CallFacts, UsageRepository } from '../../db/usage.repository';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The call an event reports, or null for one that names no service listed here. */
function factsOf(event: AnyEnvelope): CallFacts | null {
  if (event.type !== 'service.called') return null;
  const d = event.data;
  // Marketplace ids are UUIDs; a call for anything else names no service listed here.
  if (!UUID.test(d.service_id)) return null;
  return {
    serviceId: d.service_id.toLowerCase(),
    providerId: d.provider_id,
    buyerId: d.buyer_id,
    statusCode: d.status_code,
    latencyMs: d.latency_ms,
    amountMicros: BigInt(d.amount_micros),
    at: new Date(event.time),
  };
}

/**
 * Every proxied call feeds trending, recommendations, the provider's per-service totals and
 * the first_traffic onboarding step. Applied once per event id (processed_events).
 */
export function serviceCalledConsumer(usage: UsageRepository): Consumer<Db> {
  return {
    name: 'service-called',
    types: ['service.called'],
    async handle(event, tx) {
      const c = factsOf(event);
      if (!c) return;
      await usage.recordCall(tx, c);
      await usage.markMilestone(tx, c.providerId, 'first_call_at', c.at);
    },
    // A Kafka fetch's calls summed into one statement per table.
    async handleBatch(events, tx) {
      await usage.recordCalls(tx, events.flatMap((e) => factsOf(e) ?? []));
    },
  };
}
