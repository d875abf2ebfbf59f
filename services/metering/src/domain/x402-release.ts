import type { Logger } from '@platform/telemetry';
import type { Release, UnreleasedPayment } from '../db/x402-payments.repository';
import type { VoidOutcome } from '../clients/signer.client';

/**
 * Gives back the agent budget that wallets booked for x402 payments that never happened: the
 * payee refused the authorization, or the call died before it was signed or sent. Only once the
 * authorization has expired (valid_before, plus `graceSeconds` for clock skew): until then a
 * payee holding the signature could still submit it, and the booking must keep counting.
 * Wallets checks the chain before it voids (`used`: the money moved after all, the booking stays).
 */
export function x402BookingReleaser(deps: {
  payments: { unreleased(expiredBefore: bigint, limit: number): Promise<UnreleasedPayment[]>; markReleased(usageId: string, release: Release): Promise<void> };
  signer: { voidAuthorization(agentId: string, nonce: string): Promise<VoidOutcome> };
  logger: Pick<Logger, 'warn' | 'info'>;
  graceSeconds?: number;
  now?: () => number;
}) {
  const now = deps.now ?? Date.now;
  return async function releaseExpired(limit = 50): Promise<{ released: number; used: number }> {
    const expiredBefore = BigInt(Math.floor(now() / 1000) - (deps.graceSeconds ?? 60));
    let released = 0;
    let used = 0;
    for (const p of await deps.payments.unreleased(expiredBefore, limit)) {
      let outcome: VoidOutcome;
      try {
        outcome = await deps.signer.voidAuthorization(p.agentId, p.nonce);
      } catch (err) {
        // Wallets (or its chain) is not answering: the next sweep asks again.
        deps.logger.warn({ err: String(err), usage_id: p.usageId }, 'cannot release an x402 booking yet');
        break;
      }
      await deps.payments.markReleased(p.usageId, outcome.kind);
      if (outcome.kind === 'used') {
        used++;
        deps.logger.warn({ usage_id: p.usageId, agent_id: p.agentId, status: p.status }, 'an x402 authorization recorded as not paid was used on chain; its booking stays');
      } else released++;
    }
    return { released, used };
  };
}
