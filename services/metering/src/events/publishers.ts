import type { EventData, Outbox, SqlClient } from '@platform/events';
export interface CalledFacts {
  usageId: string;
  buyerId: string;
  /** A registered service, or the host of an external URL (spec 001 external fetch). */
  service: { serviceId: string; providerId: string; category: string };
  /** What the buyer pays in the end: 0 for free calls and refunded failures. */
  amountMicros: bigint;
  freeTier: boolean;
  paymentMethod: string;
  statusCode: number;
  latencyMs: number;
}

/** service.called's payload. */
export const serviceCalledData = (f: CalledFacts): EventData<'service.called'> => ({
  usage_id: f.usageId,
  service_id: f.service.serviceId,
  buyer_id: f.buyerId,
  provider_id: f.service.providerId,
  amount_micros: f.amountMicros.toString(),
  free_tier: f.freeTier,
  payment_method: f.paymentMethod,
  status_code: f.statusCode,
  latency_ms: f.latencyMs,
  category: f.service.category,
});

/** What metering emits: one service.called per forwarded call, in the transaction that completes its usage record. */
export function meteringPublishers(outbox: Outbox) {
  return {
    serviceCalled: (tx: SqlClient, f: CalledFacts) => outbox.stage(tx, 'service.called', f.service.serviceId, serviceCalledData(f)),
  };
}
export type MeteringPublishers = ReturnType<typeof meteringPublishers>;
