import { Router } from 'express';
import { errorFamily, principalOf, requireAuth } from '@platform/http';
import { formatUsd } from '@platform/money';
import type { Metering } from '../domain/metering.service';

export function usageRouter(deps: { metering: Metering }): Router {
  const r = Router();
  r.use('/api/v1/usage', errorFamily('detail'));

  /** Spec 002 "Get My Usage": calls that reached the provider step, money actually spent. */
  r.get('/api/v1/usage/me', requireAuth, async (req, res) => {
    const buyerId = principalOf(req).owner_id;
    const s = await deps.metering.summary(buyerId);
    res.json({
      buyer_id: buyerId,
      total_calls: s.calls,
      total_spent_usd: formatUsd(s.spentMicros),
      avg_latency_ms: s.avgLatencyMs === null ? 0 : Math.round(s.avgLatencyMs * 10) / 10,
    });
  });
  return r;
}
