import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { FanOut } from '../../domain/fan-out.service';

/** spec 002 "Dispatches webhook events (service.called)": to the buyer's and the provider's subscriptions. */
export function serviceCalledConsumer(fanOut: FanOut): Consumer<Db> {
  return {
    name: 'service-called',
    types: ['service.called'],
    async handle(event, tx) {
      if (event.type !== 'service.called') return;
      await fanOut(event, tx);
    },
    // A Kafka fetch's events: their subscriptions read, and their deliveries written, at once.
    async handleBatch(events, tx) {
      await fanOut.many(events.filter((e) => e.type === 'service.called'), tx);
    },
  };
}
