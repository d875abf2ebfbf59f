import { createHmac } from 'node:crypto';
import type { AnyEnvelope } from '@platform/events';
import { toUsdNumber } from '@platform/money';

/** The events a subscription may name (spec 002 "Available Events"), in the sorted order responses show. */
export const SUBSCRIBABLE_EVENTS = ['payment.completed', 'reputation.updated', 'service.called', 'settlement.completed'] as const;
export type SubscribableEvent = (typeof SUBSCRIBABLE_EVENTS)[number];

/** Spec 002 prints times as Python's isoformat does: an explicit +00:00 offset, not "Z". */
export const isoUtc = (d: Date | string): string => new Date(d).toISOString().replace(/Z$/, '+00:00');

/** Whose subscriptions an event goes to: both parties of a call or a payment. */
export function recipientsOf(event: AnyEnvelope): string[] {
  switch (event.type) {
    case 'service.called':
    case 'payment.completed':
      return [...new Set([event.data.buyer_id, event.data.provider_id].filter(Boolean))];
    default:
      return [];
  }
}

/** The `payload` object of a delivery; amounts become the numbers spec 002 shows ("amount_usd": 0.05). */
export function payloadOf(event: AnyEnvelope): Record<string, unknown> | undefined {
  switch (event.type) {
    case 'service.called': {
      const d = event.data;
      return {
        usage_id: d.usage_id,
        service_id: d.service_id,
        buyer_id: d.buyer_id,
        provider_id: d.provider_id,
        amount_usd: toUsdNumber(BigInt(d.amount_micros)),
        payment_method: d.payment_method,
        status_code: d.status_code,
        latency_ms: d.latency_ms,
      };
    }
    case 'payment.completed': {
      const d = event.data;
      return {
        payment_id: d.payment_id,
        usage_id: d.usage_id,
        service_id: d.service_id,
        buyer_id: d.buyer_id,
        provider_id: d.provider_id,
        amount_usd: toUsdNumber(BigInt(d.amount_micros)),
        payment_method: d.method,
      };
    }
    default:
      return undefined;
  }
}

/** The exact bytes POSTed (spec 002 "Webhook Payload Format"); fixed once so retries sign the same body. */
export function deliveryBody(event: AnyEnvelope, webhookId: string): string | undefined {
  const payload = payloadOf(event);
  if (!payload) return undefined;
  return JSON.stringify({ event: event.type, payload, timestamp: isoUtc(event.time), webhook_id: webhookId });
}

/** X-ACF-Signature: HMAC-SHA256 hex of the body bytes with the subscription's secret. */
export const signBody = (body: string, secret: string): string => createHmac('sha256', secret).update(body, 'utf8').digest('hex');

/** Delay before retry n (1-based): base, 2×base, 4×base… (spec 002: 1 s, 2 s, 4 s). */
export const retryDelayMs = (retry: number, baseMs: number): number => baseMs * 2 ** (retry - 1);
