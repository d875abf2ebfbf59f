import type { AnyEnvelope } from '@platform/events';
import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { ProviderUsageRepository } from '../../db/provider-usage.repository';

type UsageRow = Parameters<ProviderUsageRepository['record']>[1];

function rowOf(event: AnyEnvelope): UsageRow | null {
  if (event.type !== 'service.called') return null;
  const d = event.data;
  return {
    usageId: d.usage_id,
    providerId: d.provider_id,
    serviceId: d.service_id,
    buyerId: d.buyer_id,
    amountMicros: BigInt(d.amount_micros),
    freeTier: d.free_tier,
    paymentMethod: d.payment_method,
    statusCode: d.status_code,
    latencyMs: d.latency_ms,
    calledAt: new Date(event.time),
  };
}

/** Every proxied call, free-tier ones included, becomes a row of the provider's usage. */
export function serviceCalledConsumer(usage: ProviderUsageRepository): Consumer<Db> {
  return {
    name: 'service-called',
    types: ['service.called'],
    async handle(event, tx) {
      const row = rowOf(event);
      if (row) await usage.record(tx, row);
    },
    // A Kafka fetch's calls in one insert.
    async handleBatch(events, tx) {
      await usage.recordMany(tx, events.flatMap((e) => rowOf(e) ?? []));
    },
  };
}
