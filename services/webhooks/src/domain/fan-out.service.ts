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
  type Sub = Awaited<ReturnType<WebhooksRepository['subscribersFor']>>[number];
  const deliveriesOf = (event: AnyEnvelope, subs: Sub[], now: Date) =>
    subs.flatMap((w) => {
      const body = deliveryBody(event, w.id);
      return body ? [{ id: randomUUID(), webhookId: w.id, ownerId: w.ownerId, eventId: event.id, event: event.type, body, nextAttemptAt: now }] : [];
    });
  async function fanOut(event: AnyEnvelope, tx: SqlClient): Promise<number> {
    await deps.received.record(tx, { eventId: event.id, type: event.type, subject: event.subject });
    const owners = recipientsOf(event);
    if (!owners.length) return 0;
    const subs = await deps.webhooks.subscribersFor(tx, owners, event.type);
    return deps.deliveries.enqueue(tx, deliveriesOf(event, subs, clock()));
  }
  /** fanOut for a batch of events: three statements in all, whatever the batch's size. */
  fanOut.many = async function fanOutMany(events: AnyEnvelope[], tx: SqlClient): Promise<number> {
    if (!events.length) return 0;
    await deps.received.recordMany(tx, events.map((e) => ({ eventId: e.id, type: e.type, subject: e.subject })));
    const owners = [...new Set(events.flatMap((e) => recipientsOf(e)))];
    if (!owners.length) return 0;
    const subs = await deps.webhooks.subscribersForAny(tx, owners, [...new Set(events.map((e) => e.type))]);
    if (!subs.length) return 0;
    const now = clock();
    const rows = events.flatMap((e) => {
      const to = new Set(recipientsOf(e));
      return deliveriesOf(e, subs.filter((w) => to.has(w.ownerId) && w.events.includes(e.type)), now);
    });
    return deps.deliveries.enqueue(tx, rows);
  };
  return fanOut;
}
export type FanOut = ReturnType<typeof createFanOut>;
