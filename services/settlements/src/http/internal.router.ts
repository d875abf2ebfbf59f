import { Router } from 'express';
import { z } from 'zod';
import { errorFamily, requireService, validate } from '@platform/http';
import type { ProviderUsageRepository } from '../db/provider-usage.repository';

const ProviderParams = z.object({ provider_id: z.string().min(1).max(200) });

export function internalRouter(deps: { usage: ProviderUsageRepository }): Router {
  const r = Router();
  r.use('/internal', errorFamily('detail'), requireService);
  /** What a provider's calls add up to; total_micros is integer micro-USDC as a string. */
  r.get('/internal/providers/:provider_id/summary', validate({ params: ProviderParams }), async (req, res) => {
    const { provider_id } = res.locals.params as z.infer<typeof ProviderParams>;
    const s = await deps.usage.summaryFor(provider_id);
    res.json({ provider_id, call_count: s.callCount, total_micros: s.totalMicros.toString() });
  });
  return r;
}
