import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { UsageRepository } from '../../db/usage.repository';

/** Every proxied call becomes an observation; scores are derived from these only. */
export function serviceCalledConsumer(repo: UsageRepository): Consumer<Db> {
  return {
    name: 'service-called',
    types: ['service.called'],
    async handle(event, tx) {
      if (event.type !== 'service.called') return;
      const d = event.data;
      await repo.record(tx, {
        usageId: d.usage_id,
        serviceId: d.service_id,
        providerId: d.provider_id,
        buyerId: d.buyer_id,
        statusCode: d.status_code,
        latencyMs: d.latency_ms,
        calledAt: new Date(event.time),
      });
    },
  };
}
