import type { AnyEnvelope } from '@platform/events';
import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { UsageRepository } from '../../db/usage.repository';

type Observation = Parameters<UsageRepository['record']>[1];

function observationOf(event: AnyEnvelope): Observation | null {
  if (event.type !== 'service.called') return null;
  const d = event.data;
  return {
    usageId: d.usage_id,
    serviceId: d.service_id,
    providerId: d.provider_id,
    buyerId: d.buyer_id,
    statusCode: d.status_code,
    latencyMs: d.latency_ms,
    calledAt: new Date(event.time),
  };
}

/** Every proxied call becomes an observation; scores are derived from these only. */
export function serviceCalledConsumer(repo: UsageRepository): Consumer<Db> {
  return {
    name: 'service-called',
    types: ['service.called'],
    async handle(event, tx) {
      const o = observationOf(event);
      if (o) await repo.record(tx, o);
    },
    // A Kafka fetch's calls in one insert.
    async handleBatch(events, tx) {
      await repo.recordMany(tx, events.flatMap((e) => observationOf(e) ?? []));
    },
  };
}
