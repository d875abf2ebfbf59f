import type { EventData, Outbox, SqlClient } from '@platform/events';

/**
 * What wallets emits, always staged in the transaction that moves the money, so an event
 * exists exactly when its ledger entry does. Money events are keyed by the account owner so
 * one owner's fundings and payments stay in order on the topic.
 */
export function walletEvents(outbox: Pick<Outbox, 'stage'>) {
  return {
    paymentCompleted: (tx: SqlClient, data: EventData<'payment.completed'>) => outbox.stage(tx, 'payment.completed', data.buyer_id, data),
    balanceFunded: (tx: SqlClient, data: EventData<'balance.funded'>) => outbox.stage(tx, 'balance.funded', data.owner_id, data),
    creditsGranted: (tx: SqlClient, data: EventData<'credits.granted'>) => outbox.stage(tx, 'credits.granted', data.owner_id, data),
  };
}
export type WalletEvents = ReturnType<typeof walletEvents>;
