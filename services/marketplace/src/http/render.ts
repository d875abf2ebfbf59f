import { AppError } from '@platform/http';
import { formatUsd } from '@platform/money';
import type { ServiceRow } from '../db/services.repository';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (v: unknown): v is string => typeof v === 'string' && UUID.test(v);

/** Spec 002 prints times as "2026-03-19T10:00:00+00:00"; every marketplace time uses that form. */
export const isoOffset = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, '+00:00');

/** Averages the spec shows with one decimal (`"avg_latency_ms": 187.3`). */
export const oneDecimal = (total: number, count: number) => (count > 0 ? Math.round((total / count) * 10) / 10 : 0);

/**
 * The spec 002 service object, everywhere a service is shown (register, get, list, discover,
 * trending, recommendations). `endpoint` is the provider's private upstream: only the owner's
 * GET /api/v1/provider/services shows it.
 */
export function renderService(s: ServiceRow) {
  return {
    id: s.id,
    provider_id: s.providerId,
    name: s.name,
    description: s.description,
    pricing: {
      price_per_call: formatUsd(s.priceMicros),
      currency: 'USDC',
      payment_method: s.paymentMethod,
      free_tier_calls: s.freeTierCalls,
    },
    status: s.status,
    category: s.category,
    tags: s.tags,
    created_at: isoOffset(s.createdAt),
    updated_at: isoOffset(s.updatedAt),
  };
}

/** An id that is not a UUID names nothing; answering 404 keeps ids opaque. */
export function uuidParam(raw: string | string[] | undefined, what: string): string {
  if (!isUuid(raw)) throw new AppError('NOT_FOUND', `${what} not found`);
  return raw.toLowerCase();
}
