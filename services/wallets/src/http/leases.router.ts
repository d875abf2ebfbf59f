import { Router } from 'express';
import { errorFamily, requireService, validate } from '@platform/http';
import type { LeaseService } from '../domain/leases.service';
import { LeaseBody, LeaseParams } from './internal.schemas';

/**
 * Balance leases for metering (README "Internal contracts"): open one (a slice of the buyer's
 * prepaid balance) and close it (the rest goes back). Debits against a lease are
 * `POST /internal/debits` and `/internal/debits/batch` with `lease_id`. Service tokens only.
 */
export function leasesRouter(deps: { leases: LeaseService }): Router {
  const r = Router();
  r.use('/internal/leases', errorFamily('detail'), requireService);

  r.post('/internal/leases', validate({ body: LeaseBody }), async (req, res) => {
    const b = req.body as LeaseBody;
    const l = await deps.leases.open({ leaseId: b.lease_id, buyerId: b.buyer_id, amountMicros: b.amount_micros, minMicros: b.min_micros ?? b.amount_micros });
    res.status(l.duplicate ? 200 : 201).json({
      lease_id: l.leaseId,
      buyer_id: l.buyerId,
      granted_micros: l.grantedMicros.toString(),
      balance_micros: l.balanceMicros.toString(),
      duplicate: l.duplicate,
    });
  });

  // No body is read: metering's close names the lease in the path only.
  r.post('/internal/leases/:id/close', validate({ params: LeaseParams }), async (_req, res) => {
    const l = await deps.leases.close((res.locals.params as { id: string }).id.toLowerCase());
    res.json({
      lease_id: l.leaseId,
      buyer_id: l.buyerId,
      granted_micros: l.grantedMicros.toString(),
      charged_micros: l.chargedMicros.toString(),
      released_micros: l.releasedMicros.toString(),
      balance_micros: l.balanceMicros.toString(),
      duplicate: l.duplicate,
    });
  });
  return r;
}
