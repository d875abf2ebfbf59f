import type { SqlClient } from '@platform/events';
import type { Db } from './client';
import type { Prisma, Webhook } from '../generated/prisma/client';

export type WebhookRow = Webhook;
export interface NewWebhook {
  id: string;
  ownerId: string;
  url: string;
  events: string[];
  secretCiphertext: string;
}

export function webhooksRepository(db: Db) {
  const live = { deletedAt: null };
  return {
    /**
     * Creates the subscription unless the owner already has `max`. The per-owner advisory
     * lock makes count-then-insert safe against concurrent requests (and replicas).
     */
    async createWithinLimit(w: NewWebhook, max: number): Promise<WebhookRow | null> {
      return db.$transaction(async (tx) => {
        await tx.$queryRawUnsafe('SELECT 1 FROM pg_advisory_xact_lock(hashtext($1))', `webhooks:${w.ownerId}`);
        const n = await tx.webhook.count({ where: { ownerId: w.ownerId, ...live } });
        if (n >= max) return null;
        return tx.webhook.create({ data: w });
      }, { maxWait: 10_000, timeout: 10_000 });
    },
    listByOwner: (ownerId: string, page: { limit: number; offset: number }) =>
      db.webhook.findMany({ where: { ownerId, ...live }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], take: page.limit, skip: page.offset }),
    findLive: (id: string) => db.webhook.findFirst({ where: { id, ...live } }),
    findMany: (ids: string[]) => db.webhook.findMany({ where: { id: { in: ids } } }),
    /** Soft delete: the delivery log keeps pointing at it; pending deliveries are cancelled when picked. */
    markDeleted: (id: string, at: Date) => db.webhook.update({ where: { id }, data: { deletedAt: at, active: false } }),
    /** Active subscriptions of these owners that name this event; read in the consumer's transaction. */
    subscribersFor: (tx: SqlClient, ownerIds: string[], event: string) =>
      (tx as Prisma.TransactionClient).webhook.findMany({ where: { ownerId: { in: ownerIds }, events: { has: event }, active: true, ...live } }),
    /** subscribersFor several owners and event types at once (a batch of events). */
    subscribersForAny: (tx: SqlClient, ownerIds: string[], events: string[]) =>
      (tx as Prisma.TransactionClient).webhook.findMany({ where: { ownerId: { in: ownerIds }, events: { hasSome: events }, active: true, ...live } }),
  };
}
export type WebhooksRepository = ReturnType<typeof webhooksRepository>;
