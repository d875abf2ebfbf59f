import type { SqlClient } from '@platform/events';
import type { AccountRef } from './ledger';
import type { LedgerRepository } from '../db/ledger.repository';
import type { WalletEvents } from '../events/publishers';

/** Credits (spec 000) are whole units in their own currency, never mixed with USDC. */
export const creditsAccount = (ownerId: string): AccountRef => ({ ownerId, kind: 'credits', currency: 'CREDIT' });
const creditGrants = (ownerId: string): AccountRef => ({ ownerId, kind: 'credit_grants', currency: 'CREDIT' });

/** One onboarding grant per organization, however often identity's event is delivered or re-sent. */
export const onboardKey = (orgId: string) => `onboard:${orgId}`;

export function creditService(deps: { ledger: LedgerRepository; events: WalletEvents }) {
  const { ledger, events } = deps;
  return {
    /** Runs inside the consumer's transaction, so the grant, its event and the dedup row commit together. */
    async grantOnboarding(tx: SqlClient, g: { ownerId: string; orgId: string; credits: number; eventId: string }): Promise<{ granted: boolean }> {
      if (g.credits <= 0) return { granted: false };
      const amount = BigInt(g.credits);
      const r = await ledger.post(tx, {
        idempotencyKey: onboardKey(g.orgId),
        kind: 'credit_grant',
        metadata: { owner_id: g.ownerId, org_id: g.orgId, credits: g.credits, reason: 'onboarding', event_id: g.eventId },
        postings: [
          { account: creditsAccount(g.ownerId), amount },
          { account: creditGrants(g.ownerId), amount: -amount },
        ],
      });
      if (r.duplicate) return { granted: false };
      await events.creditsGranted(tx, { owner_id: g.ownerId, credits: g.credits, reason: 'onboarding' });
      return { granted: true };
    },

    creditsOf: (ownerId: string) => ledger.balanceOf(creditsAccount(ownerId)),
  };
}
export type CreditService = ReturnType<typeof creditService>;
