import { randomBytes } from 'node:crypto';
import { AppError } from '@platform/http';
import { formatDollars4 } from '@platform/money';
import { HttpReply, PaySettings, X402Error } from './x402.protocol';
import { AuthorizationLedger, createX402Payer, PaymentSigner, X402PaymentStore } from './x402.service';
import type { Charge } from './metering.service';

/**
 * What became of an upstream's 402 for one call:
 * - paid: the x402 payment settled (or was accepted); `reply` is the upstream's answer to the
 *   paid request (null: the payment had settled before and its answer was lost, so the
 *   upstream's current answer is all there is).
 * - unpaid: not an x402 challenge this platform can pay, or the upstream refused the payment;
 *   its 402 goes back to the caller (`reply` null = the original challenge) and nothing is billed.
 * - refused: the payment was not made (max_cost, policy, the wallet); `error` is the answer.
 * - unsettled: the payment was sent and no answer came back (`cause` is the transport error),
 *   or the upstream refused a retry whose first attempt may have settled.
 */
export type UpstreamPayment<R extends HttpReply> =
  | { kind: 'paid'; reply: R | null; costMicros: bigint }
  | { kind: 'unpaid'; reply: R | null }
  | { kind: 'refused'; error: AppError }
  | { kind: 'unsettled'; cause: unknown; detail: string };

/**
 * Pays upstream x402 challenges from the call's agent wallet (spec 001 "IndieGent detects the
 * payment protocol (402 responses…) [and] pays from your agent's budget"): once per usage id,
 * checked against max_cost and the agent's per-call max here, and the agent's budget by
 * wallets when it signs.
 */
export function createUpstreamPayments(deps: {
  store: X402PaymentStore;
  signer: PaymentSigner;
  settings: PaySettings;
  authorizations?: AuthorizationLedger;
  now?: () => number;
}) {
  return {
    /** Only calls made for an agent wallet can pay: the wallet is what signs. */
    canPay: (c: Pick<Charge, 'agentId'>) => c.agentId !== null,

    async pay<R extends HttpReply>(
      c: Charge,
      challenge: HttpReply,
      o: { maxCostMicros: bigint | null; perCallMaxMicros: bigint | null; resend(header: { name: string; value: string }): Promise<R> },
    ): Promise<UpstreamPayment<R>> {
      const payer = createX402Payer({
        store: deps.store,
        signer: deps.signer,
        settings: deps.settings,
        authorizations: deps.authorizations,
        now: deps.now ?? Date.now,
        nonce: () => `0x${randomBytes(32).toString('hex')}`,
        policy: {
          check: async (q) =>
            o.perCallMaxMicros !== null && q.amountMicros > o.perCallMaxMicros
              ? { allowed: false, status: 402, reason: `Insufficient budget: the service charges ${formatDollars4(q.amountMicros)} per call, over this agent's per_call_max of ${formatDollars4(o.perCallMaxMicros)}` }
              : { allowed: true },
        },
      });
      let sent = false;
      let reply: R | null = null;
      try {
        const r = await payer.pay({
          usageId: c.usageId,
          agentId: c.agentId!,
          maxCostMicros: o.maxCostMicros,
          service: c.service.policyName,
          challenge,
          resend: async (h) => {
            sent = true;
            reply = await o.resend(h);
            return reply;
          },
        });
        if (r.kind === 'paid') return { kind: 'paid', reply, costMicros: r.costMicros };
        if (r.kind === 'refused') return { kind: 'unpaid', reply };
        return { kind: 'unsettled', cause: null, detail: `The upstream refused a payment that may already have settled (${r.reason}); it is being reconciled` };
      } catch (err) {
        if (!(err instanceof X402Error)) {
          if (sent) return { kind: 'unsettled', cause: err, detail: 'The upstream did not answer after the payment was sent' };
          throw err;
        }
        switch (err.code) {
          case 'not_x402':
          case 'malformed_challenge':
          case 'no_payable_requirement':
            return { kind: 'unpaid', reply: null };
          case 'over_max_cost':
            return { kind: 'refused', error: new AppError('UNPROCESSABLE', `Cost exceeds max_cost: ${err.message}`, { reason: 'max_cost' }) };
          case 'policy_refused':
            return { kind: 'refused', error: new AppError(err.status === 403 ? 'FORBIDDEN' : 'PAYMENT_REQUIRED', err.message) };
          case 'already_settled': {
            const p = await deps.store.find(c.usageId);
            return { kind: 'paid', reply: null, costMicros: p?.amountMicros ?? 0n };
          }
          case 'already_refused':
            return { kind: 'unpaid', reply: null };
          default:
            return { kind: 'refused', error: new AppError('UNAVAILABLE', `${err.message}; you were not charged, try again`) };
        }
      }
    },
  };
}
export type UpstreamPayments = ReturnType<typeof createUpstreamPayments>;
