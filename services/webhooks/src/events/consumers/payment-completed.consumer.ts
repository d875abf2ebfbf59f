import type { Consumer } from '@platform/service';
import type { Db } from '../../db/client';
import type { FanOut } from '../../domain/fan-out.service';

/** A debit for a call: to the buyer's and the provider's `payment.completed` subscriptions. */
export function paymentCompletedConsumer(fanOut: FanOut): Consumer<Db> {
  return {
    name: 'payment-completed',
    types: ['payment.completed'],
    async handle(event, tx) {
      if (event.type !== 'payment.completed') return;
      await fanOut(event, tx);
    },
    // A Kafka fetch's events: their subscriptions read, and their deliveries written, at once.
    async handleBatch(events, tx) {
      await fanOut.many(events.filter((e) => e.type === 'payment.completed'), tx);
    },
  };
}
