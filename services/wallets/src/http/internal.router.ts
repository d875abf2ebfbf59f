import { Router } from 'express';
import { errorFamily, requireService, validate } from '@platform/http';
import type { BalanceService } from '../domain/balances.service';
import { DebitBody, OwnerParams, RefundBody } from './internal.schemas';
import { debitReply, debitRequestOf } from './debit-batch.router';

/** Service-to-service routes (metering's prepaid-balance path); the gateway never routes /internal. */
export function internalRouter(deps: { balances: BalanceService }): Router {
  const r = Router();
  r.use('/internal', errorFamily('detail'), requireService);

  r.post('/internal/debits', validate({ body: DebitBody }), async (req, res) => {
    const b = req.body as DebitBody;
    res.json(debitReply(await deps.balances.debit(debitRequestOf(b))));
  });

  r.post('/internal/refunds', validate({ body: RefundBody }), async (req, res) => {
    const b = req.body as RefundBody;
    const d = await deps.balances.refund(b.usage_id);
    res.json({ usage_id: d.usageId, refunded_micros: d.refundedMicros.toString(), balance_micros: d.balanceMicros.toString(), duplicate: d.duplicate });
  });

  r.get('/internal/balances/:owner_id', validate({ params: OwnerParams }), async (_req, res) => {
    const { owner_id } = res.locals.params as { owner_id: string };
    // balance_micros includes the open leases' remaining (still the buyer's money); leased_micros is that part.
    const f = await deps.balances.funds(owner_id);
    res.json({ owner_id, balance_micros: f.balanceMicros.toString(), leased_micros: f.leasedMicros.toString() });
  });
  return r;
}
