import { AppError, InternalClient } from '@platform/http';
import { Batcher } from '../support/batcher';

export interface DebitRequest {
  usageId: string;
  buyerId: string;
  amountMicros: bigint;
  providerId: string;
  serviceId: string;
  /**
   * The agent paying from the buyer's balance (X-Agent-Wallet resolved by authorize): wallets
   * then counts the debit against its policy spend (per_call_max, spending_cap, daily and
   * monthly limits) and a refund gives it back. It must belong to orgId ?? buyerId.
   */
  agentId?: string | null;
  /** The caller's organization, when it has one (only sent with agentId). */
  orgId?: string | null;
}

/**
 * `insufficient` is every refusal of a balance debit: 402 (the balance, or with agentId the
 * agent's budget: `reason` per_call_max | spending_cap | daily_limit | monthly_limit) and,
 * only with agentId, 403 `agent_inactive` or 404 `agent_not_found`. Nothing was taken.
 */
export type DebitResult = { kind: 'debited'; balanceMicros: bigint } | { kind: 'insufficient'; detail: string; status?: number; reason?: string };

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
  /** The agent (id) the caller says pays: the session must be its. Sent, wallets' debit is the call's whole authorization. */
  agentId?: string | null;
}

/** Wallets' refusal in its own words: the HTTP status and `errors.reason` (README "Internal contracts"). */
export interface Refusal {
  status: number;
  reason: string;
  detail: string;
}

export type SessionDebitResult = { kind: 'debited'; remainingMicros: bigint; agentId: string | null; perCallMaxMicros: bigint | null } | ({ kind: 'refused' } & Refusal);

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

type DebitBody = { balance_micros?: string; detail?: string; errors?: { reason?: string } };

const debitBody = (d: DebitRequest) => ({
  usage_id: d.usageId,
  buyer_id: d.buyerId,
  amount_micros: d.amountMicros.toString(),
  provider_id: d.providerId,
  service_id: d.serviceId,
  ...(d.agentId ? { agent_id: d.agentId, ...(d.orgId ? { org_id: d.orgId } : {}) } : {}),
});

/** Wallets' answer to one debit (alone or in a batch) as metering reads it. */
function debitResult(d: DebitRequest, r: { status: number; body: DebitBody | undefined }): DebitResult {
  if (r.status === 200) return { kind: 'debited', balanceMicros: BigInt(r.body?.balance_micros ?? '0') };
  if (r.status === 402 || (d.agentId && (r.status === 403 || r.status === 404) && typeof r.body?.errors?.reason === 'string')) {
    const detail = typeof r.body?.detail === 'string' && r.body.detail ? r.body.detail : 'Insufficient balance';
    const reason = r.body?.errors?.reason;
    return { kind: 'insufficient', detail, status: r.status, ...(typeof reason === 'string' ? { reason } : {}) };
  }
  throw new WalletsUnavailable(`wallets answered ${r.status} to a debit`);
}

/** Thrown when wallets cannot say whether it moved money; the caller must refund to be safe. */
export class WalletsUnavailable extends Error {}

/**
 * Wallets' internal API (CONTRACTS "Wallets <-> metering"): debits and refunds are both
 * idempotent by usage_id, so retrying either after a timeout is always safe.
 */
export function walletsClient(opts: { baseUrl: string; secret: string; timeoutMs: number; batchDebits?: boolean; debitBatchesInFlight?: number }) {
  const client = new InternalClient({ baseUrl: opts.baseUrl.replace(/\/$/, ''), service: 'metering', secret: opts.secret, timeoutMs: opts.timeoutMs, target: 'wallets' });

  async function send<T>(path: string, body: unknown, requestId?: string) {
    try {
      return await client.request<T>('POST', path, body, requestId ? { 'x-request-id': requestId } : {});
    } catch (err) {
      throw new WalletsUnavailable(err instanceof AppError ? err.message : String(err));
    }
  }

  const debits = opts.batchDebits
    ? new Batcher<DebitRequest, { status: number; body: DebitBody | undefined }>(
        async (ds) => {
          const r = await send<{ results?: { status: number; body: DebitBody }[] }>('/internal/debits/batch', { debits: ds.map(debitBody) });
          if (r.status !== 200 || !Array.isArray(r.body?.results) || r.body.results.length !== ds.length) {
            throw new WalletsUnavailable(`wallets answered ${r.status} to a debit batch`);
          }
          return r.body.results;
        },
        { maxBatch: 200, maxInFlight: opts.debitBatchesInFlight ?? 1 },
      )
    : null;

  return {
    /**
     * Takes a call's price from the buyer's prepaid balance; idempotent by usage_id. With
     * batching, concurrent debits travel together in one `POST /internal/debits/batch`, each
     * answered exactly as `POST /internal/debits` would answer it alone.
     */
    async debit(d: DebitRequest, requestId?: string): Promise<DebitResult> {
      if (debits) return debitResult(d, await debits.push(d));
      return debitResult(d, await send<DebitBody>('/internal/debits', debitBody(d), requestId));
    },

    /** Takes a call's price from a payment session (spec 001); idempotent by usage_id. */
    async sessionDebit(d: SessionDebitRequest, requestId?: string): Promise<SessionDebitResult> {
      const r = await send<{ remaining_micros?: string; agent_id?: string; per_call_max?: string | null; detail?: string; errors?: { reason?: string } }>(
        `/internal/sessions/${encodeURIComponent(d.sessionId)}/debits`,
        {
          usage_id: d.usageId,
          amount_micros: d.amountMicros.toString(),
          service_id: d.serviceName,
          provider_id: d.providerId,
          owner_id: d.ownerId,
          ...(d.orgId ? { org_id: d.orgId } : {}),
          ...(d.agentId ? { agent_id: d.agentId } : {}),
        },
        requestId,
      );
      if (r.status === 200) {
        return {
          kind: 'debited',
          remainingMicros: BigInt(r.body?.remaining_micros ?? '0'),
          agentId: r.body?.agent_id ?? null,
          perCallMaxMicros: r.body?.per_call_max ? BigInt(r.body.per_call_max) : null,
        };
      }
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

    /**
     * Takes a slice of the buyer's prepaid balance into a lease (wallets `POST /internal/leases`):
     * min(amount, what the balance has), refused when that is below `minMicros`. Idempotent by lease id.
     */
    async openLease(l: { leaseId: string; buyerId: string; amountMicros: bigint; minMicros: bigint }): Promise<{ kind: 'granted'; grantedMicros: bigint } | { kind: 'insufficient'; detail: string }> {
      const r = await send<{ granted_micros?: string; detail?: string }>('/internal/leases', {
        lease_id: l.leaseId,
        buyer_id: l.buyerId,
        amount_micros: l.amountMicros.toString(),
        min_micros: l.minMicros.toString(),
      });
      if ((r.status === 200 || r.status === 201) && r.body?.granted_micros) return { kind: 'granted', grantedMicros: BigInt(r.body.granted_micros) };
      if (r.status === 402) return { kind: 'insufficient', detail: String(r.body?.detail ?? 'Insufficient balance') };
      throw new WalletsUnavailable(`wallets answered ${r.status} to a lease`);
    },

    /**
     * Posts calls' charges against their leases in ONE request (`POST /internal/debits/batch`
     * with `lease_id`): each answered as wallets would answer it alone. `charged` covers a replay
     * (idempotent by usage id); `refused` carries wallets' reason (lease_exhausted, lease_closed,
     * lease_not_found, usage_voided).
     */
    async chargeLeases(
      cs: { usageId: string; leaseId: string | null; buyerId: string; amountMicros: bigint; providerId: string; serviceId: string }[],
    ): Promise<({ kind: 'charged' } | { kind: 'refused'; status: number; reason: string; detail: string })[]> {
      const r = await send<{ results?: { status: number; body: DebitBody }[] }>('/internal/debits/batch', {
        debits: cs.map((c) => ({ ...debitBody(c), ...(c.leaseId ? { lease_id: c.leaseId } : {}) })),
      });
      if (r.status !== 200 || !Array.isArray(r.body?.results) || r.body.results.length !== cs.length) throw new WalletsUnavailable(`wallets answered ${r.status} to a lease charge batch`);
      return r.body.results.map((x) => {
        if (x.status === 200) return { kind: 'charged' as const };
        if ([402, 404, 409].includes(x.status)) return { kind: 'refused' as const, ...refusal(x.status, x.body) };
        throw new WalletsUnavailable(`wallets answered ${x.status} to a lease charge`);
      });
    },

    /** Closes a lease: its unspent rest goes back to the buyer's balance (idempotent); `missing` when wallets never opened it. */
    async closeLease(leaseId: string): Promise<{ kind: 'closed'; releasedMicros: bigint; chargedMicros: bigint } | { kind: 'missing' }> {
      const r = await send<{ released_micros?: string; charged_micros?: string }>(`/internal/leases/${encodeURIComponent(leaseId)}/close`, {});
      if (r.status === 200) return { kind: 'closed', releasedMicros: BigInt(r.body?.released_micros ?? '0'), chargedMicros: BigInt(r.body?.charged_micros ?? '0') };
      if (r.status === 404) return { kind: 'missing' };
      throw new WalletsUnavailable(`wallets answered ${r.status} to a lease close`);
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
