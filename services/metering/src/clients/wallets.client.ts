import { AppError, InternalClient } from '@platform/http';

export interface DebitRequest {
  usageId: string;
  buyerId: string;
  amountMicros: bigint;
  providerId: string;
  serviceId: string;
}

export type DebitResult = { kind: 'debited'; balanceMicros: bigint } | { kind: 'insufficient'; detail: string };

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
