import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { ServicePricesRepository } from '../../db/service-prices.repository';
import { endpointHostOf, slugOf } from '../../domain/service-names';

/**
 * service.registered / updated / removed all carry the whole service, so one consumer keeps
 * the price list: metering never calls marketplace on the hot path (DESIGN rule 1).
 */
export function serviceCatalogueConsumer(repo: ServicePricesRepository, onApplied: (serviceId: string) => void = () => undefined): Consumer<Db> {
  return {
    name: 'service-catalogue',
    types: ['service.registered', 'service.updated', 'service.removed'],
    async handle(event, tx) {
      if (event.type !== 'service.registered' && event.type !== 'service.updated' && event.type !== 'service.removed') return;
      const d = event.data;
      await repo.apply(tx, {
        serviceId: d.service_id,
        providerId: d.provider_id,
        name: d.name,
        endpoint: d.endpoint,
        priceMicros: BigInt(d.price_micros),
        paymentMethod: d.payment_method,
        freeTierCalls: d.free_tier_calls,
        // A removal is final whatever status the payload repeats.
        status: event.type === 'service.removed' ? 'removed' : d.status,
        category: d.category,
        eventTime: new Date(event.time),
        slug: slugOf(d.name),
        endpointHost: endpointHostOf(d.endpoint),
      });
      // Forget the cached row now and once more after the commit, so no call in between caches the old one for long.
      onApplied(d.service_id);
      setTimeout(() => onApplied(d.service_id), 100).unref();
    },
  };
}
