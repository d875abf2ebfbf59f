import { AppError, InternalClient } from '@platform/http';

export interface DebitRequest {
  usageId: string;
  buyerId: string;
  amountMicros: bigint;
  providerId: string;
  serviceId: string;
}

export type DebitResult = { kind: 'debited'; balanceMicros: bigint } | { kind: 'insufficient'; detail: string };

export interface SessionDebitRequest {
  sessionId: string;
  usageId: string;
  amountMicros: bigint;
  /** The name the agent's policy knows the service by (slug or host); wallets checks it. */
  serviceName: string;
  providerId: string;
  /** The caller's principal: the session must belong to org_id ?? owner_id. */
  ownerId: string;
  orgId: string | null;
}

/** Wallets' refusal in its own words: the HTTP status and `errors.reason` (README "Internal contracts"). */
export interface Refusal {
  status: number;
  reason: string;
  detail: string;
}

export type SessionDebitResult = { kind: 'debited'; remainingMicros: bigint } | ({ kind: 'refused' } & Refusal);

export interface AuthorizeRequest {
  ownerId: string;
  orgId: string | null;
  /** X-Agent-Wallet: an agent id, name or slug. */
  agent: string;
  service: string | null;
  amountMicros: bigint | null;
  sessionId: string | null;
}

export interface AgentVerdict {
  allowed: boolean;
  code: string;
  reason: string | null;
  agentId: string;
  agentName: string;
  walletAddress: string;
  perCallMaxMicros: bigint | null;
  session: { id: string; remainingMicros: bigint } | null;
}

export type AuthorizeResult = { kind: 'verdict'; verdict: AgentVerdict } | { kind: 'not_found'; detail: string };

/** Thrown when wallets cannot say whether it moved money; the caller must refund to be safe. */
export class WalletsUnavailable extends Error {}

/**
 * Wallets' internal API (CONTRACTS "Wallets <-> metering"): debits and refunds are both
 * idempotent by usage_id, so retrying either after a timeout is always safe.
 */
export function walletsClient(opts: { baseUrl: string; secret: string; timeoutMs: number }) {
  const client = new InternalClient({ baseUrl: opts.baseUrl.replace(/\/$/, ''), service: 'metering', secret: opts.secret, timeoutMs: opts.timeoutMs, target: 'wallets' });

  async function send<T>(path: string, body: unknown, requestId?: string) {
    try {
      return await client.request<T>('POST', path, body, requestId ? { 'x-request-id': requestId } : {});
    } catch (err) {
      throw new WalletsUnavailable(err instanceof AppError ? err.message : String(err));
    }
  }

  return {
    async debit(d: DebitRequest, requestId?: string): Promise<DebitResult> {
      const r = await send<{ balance_micros?: string; detail?: string }>(
        '/internal/debits',
        { usage_id: d.usageId, buyer_id: d.buyerId, amount_micros: d.amountMicros.toString(), provider_id: d.providerId, service_id: d.serviceId },
        requestId,
      );
      if (r.status === 200) return { kind: 'debited', balanceMicros: BigInt(r.body?.balance_micros ?? '0') };
      if (r.status === 402) {
        const detail = typeof r.body?.detail === 'string' && r.body.detail ? r.body.detail : 'Insufficient balance';
        return { kind: 'insufficient', detail };
      }
      throw new WalletsUnavailable(`wallets answered ${r.status} to a debit`);
    },

    /** Takes a call's price from a payment session (spec 001); idempotent by usage_id. */
    async sessionDebit(d: SessionDebitRequest, requestId?: string): Promise<SessionDebitResult> {
      const r = await send<{ remaining_micros?: string; detail?: string; errors?: { reason?: string } }>(
        `/internal/sessions/${encodeURIComponent(d.sessionId)}/debits`,
        {
          usage_id: d.usageId,
          amount_micros: d.amountMicros.toString(),
          service_id: d.serviceName,
          provider_id: d.providerId,
          owner_id: d.ownerId,
          ...(d.orgId ? { org_id: d.orgId } : {}),
        },
        requestId,
      );
      if (r.status === 200) return { kind: 'debited', remainingMicros: BigInt(r.body?.remaining_micros ?? '0') };
      if ([402, 403, 404, 409].includes(r.status)) return { kind: 'refused', ...refusal(r.status, r.body) };
      throw new WalletsUnavailable(`wallets answered ${r.status} to a session debit`);
    },

    /**
     * Gives a session debit back (requested contract, README "Contracts"). Only a 404 that says
     * `errors.reason: "no_debit"` means there is nothing to refund; any other 404 (a wallets
     * without the route) is a failure the sweeper retries, never a refund taken for granted.
     */
    async sessionRefund(sessionId: string, usageId: string): Promise<'refunded' | 'nothing_to_refund'> {
      const r = await send<{ errors?: { reason?: string } }>(`/internal/sessions/${encodeURIComponent(sessionId)}/refunds`, { usage_id: usageId });
      if (r.status === 200) return 'refunded';
      if (r.status === 404 && r.body?.errors?.reason === 'no_debit') return 'nothing_to_refund';
      throw new WalletsUnavailable(`wallets answered ${r.status} to a session refund`);
    },

    /** Resolves X-Agent-Wallet and asks whether its policy lets it pay this call (read-only). */
    async authorize(q: AuthorizeRequest, requestId?: string): Promise<AuthorizeResult> {
      const r = await send<{
        allowed?: boolean;
        code?: string;
        reason?: string | null;
        agent_id?: string;
        agent_name?: string;
        wallet_address?: string;
        policy?: { per_call_max?: string | null };
        session?: { id: string; remaining_micros: string } | null;
        detail?: string;
      }>(
        '/internal/agents/authorize',
        {
          owner_id: q.ownerId,
          ...(q.orgId ? { org_id: q.orgId } : {}),
          agent: q.agent,
          ...(q.service ? { service: q.service } : {}),
          ...(q.amountMicros !== null ? { amount_micros: q.amountMicros.toString() } : {}),
          ...(q.sessionId ? { session_id: q.sessionId } : {}),
        },
        requestId,
      );
      if (r.status === 404) return { kind: 'not_found', detail: String(r.body?.detail ?? 'Agent wallet not found') };
      const b = r.body;
      if (r.status !== 200 || typeof b?.allowed !== 'boolean' || !b.agent_id) throw new WalletsUnavailable(`wallets answered ${r.status} to an authorization`);
      return {
        kind: 'verdict',
        verdict: {
          allowed: b.allowed,
          code: String(b.code ?? ''),
          reason: b.reason ?? null,
          agentId: b.agent_id,
          agentName: String(b.agent_name ?? ''),
          walletAddress: String(b.wallet_address ?? ''),
          perCallMaxMicros: b.policy?.per_call_max ? BigInt(b.policy.per_call_max) : null,
          session: b.session ? { id: b.session.id, remainingMicros: BigInt(b.session.remaining_micros) } : null,
        },
      };
    },

    /** Gives a debit back; a usage id wallets never debited (404) needs no refund. */
    async refund(usageId: string): Promise<'refunded' | 'nothing_to_refund'> {
      const r = await send('/internal/refunds', { usage_id: usageId });
      if (r.status === 200) return 'refunded';
      if (r.status === 404) return 'nothing_to_refund';
      throw new WalletsUnavailable(`wallets answered ${r.status} to a refund`);
    },
  };
}
export type WalletsClient = ReturnType<typeof walletsClient>;

function refusal(status: number, body: { detail?: string; errors?: { reason?: string } } | undefined): Refusal {
  const detail = typeof body?.detail === 'string' && body.detail ? body.detail : `wallets refused the payment (${status})`;
  return { status, reason: String(body?.errors?.reason ?? ''), detail };
}
