import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { ProviderUsageRepository } from '../../db/provider-usage.repository';

/** Every proxied call, free-tier ones included, becomes a row of the provider's usage. */
export function serviceCalledConsumer(usage: ProviderUsageRepository): Consumer<Db> {
  return {
    name: 'service-called',
    types: ['service.called'],
    async handle(event, tx) {
      if (event.type !== 'service.called') return;
      const d = event.data;
      await usage.record(tx, {
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
      });
    },
  };
}
