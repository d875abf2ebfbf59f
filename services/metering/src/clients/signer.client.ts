import { InternalClient } from '@platform/http';
import { Eip3009Request, PaymentSigner, SignerRefused } from '../domain/x402.service';
import type { SignedAuthorization } from '../domain/x402.protocol';

/**
 * The PaymentSigner over wallets' internal signing route (working contract, README "Contracts"):
 *
 *   POST {WALLETS_URL}/internal/agents/{agent_id}/eip3009-authorizations
 *        {"to", "value", "valid_after", "valid_before", "nonce", "usage_id", "service"?}   (integers as decimal strings, nonce 0x + 64 hex)
 *   200/201 {"authorization": {"from","to","value","validAfter","validBefore","nonce"}, "signature": "0x…"}
 *
 * Wallets checks the agent's policy and budget (402/403 = refused), records the spend, and
 * signs USDC's EIP-3009 TransferWithAuthorization with the agent's key for exactly these
 * parameters; the key never leaves wallets. It is idempotent by (agent, nonce), and a nonce
 * settles once on chain, so a retry after a timeout is safe.
 */
/** What a void of a signed authorization found (wallets' `POST …/eip3009-authorizations/:nonce/void`). */
export type VoidOutcome =
  /** The booking was released now, or by an earlier void (`duplicate`). */
  | { kind: 'voided'; voidedMicros: bigint; duplicate: boolean }
  /** Wallets never booked this nonce; it is now void there, so a signing still in flight is refused. */
  | { kind: 'not_signed' }
  /** The authorization was used on chain: the money moved and stays booked. */
  | { kind: 'used' };

export interface WalletsSigner extends PaymentSigner {
  /**
   * Releases the spend booked for a signed authorization the payee refused or that was never
   * sent. Only for those: a signature the payee holds stays valid on chain until valid_before.
   * Idempotent; throws when wallets cannot answer (retry it).
   */
  voidAuthorization(agentId: string, nonce: string): Promise<VoidOutcome>;
}

export function walletsSignerClient(opts: { baseUrl: string; secret: string; timeoutMs: number }): WalletsSigner {
  const client = new InternalClient({ baseUrl: opts.baseUrl.replace(/\/$/, ''), service: 'metering', secret: opts.secret, timeoutMs: opts.timeoutMs, target: 'wallets' });
  return {
    async authorize(r: Eip3009Request): Promise<SignedAuthorization> {
      const res = await client.request<Partial<SignedAuthorization> & { detail?: string; error?: string }>(
        'POST',
        `/internal/agents/${encodeURIComponent(r.agentId)}/eip3009-authorizations`,
        {
          to: r.to,
          value: r.value.toString(),
          valid_after: r.validAfter.toString(),
          valid_before: r.validBefore.toString(),
          nonce: r.nonce,
          usage_id: r.usageId,
          ...(r.service ? { service: r.service } : {}),
        },
      );
      if ((res.status === 200 || res.status === 201) && res.body?.authorization && typeof res.body.signature === 'string') {
        return { authorization: res.body.authorization, signature: res.body.signature };
      }
      const why = String(res.body?.detail ?? res.body?.error ?? `wallets answered ${res.status}`);
      // 402 over budget / per-call max, 403 not allowed by policy or wallet deactivated.
      if (res.status === 402 || res.status === 403) throw new SignerRefused(why, res.status);
      throw new Error(why);
    },

    async voidAuthorization(agentId: string, nonce: string): Promise<VoidOutcome> {
      const res = await client.request<{ voided_micros?: string; duplicate?: boolean; detail?: string; errors?: { reason?: string } }>(
        'POST',
        `/internal/agents/${encodeURIComponent(agentId)}/eip3009-authorizations/${encodeURIComponent(nonce)}/void`,
        {},
      );
      if (res.status === 200) return { kind: 'voided', voidedMicros: BigInt(res.body?.voided_micros ?? '0'), duplicate: res.body?.duplicate === true };
      const reason = res.body?.errors?.reason;
      if (res.status === 404 && reason === 'no_authorization') return { kind: 'not_signed' };
      if (res.status === 409 && reason === 'authorization_used') return { kind: 'used' };
      throw new Error(String(res.body?.detail ?? `wallets answered ${res.status} to a void`));
    },
  };
}
