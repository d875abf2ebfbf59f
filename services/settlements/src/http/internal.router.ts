import { Router } from 'express';
import { z } from 'zod';
import { errorFamily, requireService, validate } from '@platform/http';
import type { ProviderUsageRepository } from '../db/provider-usage.repository';
import { providerTotals } from '../domain/payout';

const ProviderParams = z.object({ provider_id: z.string().min(1).max(200) });

export function internalRouter(deps: { usage: ProviderUsageRepository }): Router {
  const r = Router();
  r.use('/internal', errorFamily('detail'), requireService);
  /**
   * What a provider's calls add up to, as integer micro-USDC strings. call_count/total_micros
   * are usage statistics (every call, x402 ones included); payable_* is only what the platform
   * collected, the base of payouts and the platform fee (domain/payout).
   */
  r.get('/internal/providers/:provider_id/summary', validate({ params: ProviderParams }), async (req, res) => {
    const { provider_id } = res.locals.params as z.infer<typeof ProviderParams>;
    const t = providerTotals(await deps.usage.totalsByMethod(provider_id));
    res.json({
      provider_id,
      call_count: t.callCount,
      total_micros: t.totalMicros.toString(),
      payable_call_count: t.payableCallCount,
      payable_micros: t.payableMicros.toString(),
    });
  });
  return r;
}
