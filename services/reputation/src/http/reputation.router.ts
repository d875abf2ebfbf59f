import { Router } from 'express';
import { errorFamily, requireService } from '@platform/http';
import type { UsageRepository } from '../db/usage.repository';

export function reputationRouter(deps: { usage: UsageRepository }): Router {
  const r = Router();
  r.use('/internal', errorFamily('detail'), requireService);
  /** How many calls reputation has observed; lets the fleet's e2e test see the event arrive. */
  r.get('/internal/observations/:usage_id', async (req, res) => {
    const n = await deps.usage.count({ usageId: req.params.usage_id });
    res.json({ usage_id: req.params.usage_id, observed: n > 0, count: n });
  });
  return r;
}
