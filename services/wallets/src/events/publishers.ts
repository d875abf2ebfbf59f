import { createEnvelope } from '@platform/events';
import type { EventData, Outbox, SqlClient } from '@platform/events';

/**
 * What wallets emits, always staged in the transaction that moves the money, so an event
 * exists exactly when its ledger entry does. Money events are keyed by the account owner so
 * one owner's fundings and payments stay in order on the topic.
 */
export function walletEvents(outbox: Pick<Outbox, 'stage'> & Partial<Pick<Outbox, 'kick'>>, source = 'wallets') {
  return {
    /**
     * The envelope `stage` would write for a payment, for the one-statement debit (the
     * `ledger_debit` function inserts it into outbox_events); call `published` after it commits.
     */
    paymentCompletedEnvelope: (data: EventData<'payment.completed'>) => createEnvelope(source, 'payment.completed', data.buyer_id, data),
    /** Wakes the relay for a row written outside `stage`. */
    published: () => outbox.kick?.(),
    paymentCompleted: (tx: SqlClient, data: EventData<'payment.completed'>) => outbox.stage(tx, 'payment.completed', data.buyer_id, data),
    balanceFunded: (tx: SqlClient, data: EventData<'balance.funded'>) => outbox.stage(tx, 'balance.funded', data.owner_id, data),
    creditsGranted: (tx: SqlClient, data: EventData<'credits.granted'>) => outbox.stage(tx, 'credits.granted', data.owner_id, data),
    creditsPurchased: (tx: SqlClient, data: EventData<'credits.purchased'>) => outbox.stage(tx, 'credits.purchased', data.owner_id, data),
    creditsConsumed: (tx: SqlClient, data: EventData<'credits.consumed'>) => outbox.stage(tx, 'credits.consumed', data.owner_id, data),
  };
}
export type WalletEvents = ReturnType<typeof walletEvents>;

/**
 * Spec 001 agent wallets and payment sessions. Agent lifecycle events are keyed by agent id
 * (one agent's updates stay in order); money events by account, like the ones above.
 */
export function agentWalletEvents(outbox: Pick<Outbox, 'stage'> & Partial<Pick<Outbox, 'kick'>>, source = 'wallets') {
  return {
    /** As walletEvents.paymentCompletedEnvelope: for the one-statement session debit. */
    paymentCompletedEnvelope: (data: EventData<'payment.completed'>) => createEnvelope(source, 'payment.completed', data.buyer_id, data),
    published: () => outbox.kick?.(),
    agentCreated: (tx: SqlClient, data: EventData<'wallet.agent.created'>) => outbox.stage(tx, 'wallet.agent.created', data.agent_id, data),
    agentUpdated: (tx: SqlClient, data: EventData<'wallet.agent.updated'>) => outbox.stage(tx, 'wallet.agent.updated', data.agent_id, data),
    agentDeactivated: (tx: SqlClient, data: EventData<'wallet.agent.deactivated'>) => outbox.stage(tx, 'wallet.agent.deactivated', data.agent_id, data),
    agentFunded: (tx: SqlClient, data: EventData<'wallet.agent.funded'>) => outbox.stage(tx, 'wallet.agent.funded', data.account_id, data),
    agentDrained: (tx: SqlClient, data: EventData<'wallet.agent.drained'>) => outbox.stage(tx, 'wallet.agent.drained', data.account_id, data),
    sessionOpened: (tx: SqlClient, data: EventData<'session.opened'>) => outbox.stage(tx, 'session.opened', data.account_id, data),
    sessionClosed: (tx: SqlClient, data: EventData<'session.closed'>) => outbox.stage(tx, 'session.closed', data.account_id, data),
    paymentCompleted: (tx: SqlClient, data: EventData<'payment.completed'>) => outbox.stage(tx, 'payment.completed', data.buyer_id, data),
  };
}
export type AgentWalletEvents = ReturnType<typeof agentWalletEvents>;
