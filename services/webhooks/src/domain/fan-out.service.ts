import { randomUUID } from 'node:crypto';
import type { AnyEnvelope, SqlClient } from '@platform/events';
import type { WebhooksRepository } from '../db/webhooks.repository';
import type { DeliveriesRepository } from '../db/deliveries.repository';
import type { ReceivedEventsRepository } from '../db/received-events.repository';
import { deliveryBody, recipientsOf } from './events';

/**
 * Turns one consumed event into one pending delivery per matching subscription, in the
 * consumer's transaction: the event is marked processed only together with its deliveries.
 * The worker sends them after commit, so a slow receiver never holds up consumption.
 */
export function createFanOut(deps: { webhooks: WebhooksRepository; deliveries: DeliveriesRepository; received: ReceivedEventsRepository; clock?: () => Date }) {
  const clock = deps.clock ?? (() => new Date());
  return async function fanOut(event: AnyEnvelope, tx: SqlClient): Promise<number> {
    await deps.received.record(tx, { eventId: event.id, type: event.type, subject: event.subject });
    const owners = recipientsOf(event);
    if (!owners.length) return 0;
    const subs = await deps.webhooks.subscribersFor(tx, owners, event.type);
    const now = clock();
    const rows = subs.flatMap((w) => {
      const body = deliveryBody(event, w.id);
      return body ? [{ id: randomUUID(), webhookId: w.id, ownerId: w.ownerId, eventId: event.id, event: event.type, body, nextAttemptAt: now }] : [];
    });
    return deps.deliveries.enqueue(tx, rows);
  };
}
export type FanOut = ReturnType<typeof createFanOut>;
