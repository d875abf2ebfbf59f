import type { Outbox, SqlClient } from '@platform/events';
import type { DeliveredEvent } from '../domain/delivery-worker';

/** What webhooks emits: `webhook.delivered`, keyed by webhook so one subscription's log stays ordered. */
export const publishers = (outbox: Outbox) => ({
  delivered: (tx: SqlClient, e: DeliveredEvent) => outbox.stage(tx, 'webhook.delivered', e.webhook_id, e),
});
