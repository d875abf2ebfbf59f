import { Router, Response } from 'express';
import { AppError, errorFamily, principalOf, requireAuth, validate } from '@platform/http';
import { formatUsd } from '@platform/money';
import type { BalanceService } from '../domain/balances.service';
import { FundBody, IDEMPOTENCY_KEY } from './dev-balance.schemas';

const balanceReply = (res: Response, ownerId: string, micros: bigint) =>
  res.json({ owner_id: ownerId, balance: formatUsd(micros), balance_micros: micros.toString() });

/**
 * Development-only: lets a caller fund its own prepaid balance without a chain. Mounted only
 * when DEV_ROUTES=true; otherwise these paths do not exist (404).
 */
export function devBalanceRouter(deps: { balances: BalanceService }): Router {
  const r = Router();
  r.use('/dev', errorFamily('detail'), requireAuth);

  r.post('/dev/balance/fund', validate({ body: FundBody }), async (req, res) => {
    const header = req.get('idempotency-key');
    if (header !== undefined && !IDEMPOTENCY_KEY.test(header)) {
      throw new AppError('BAD_REQUEST', 'Idempotency-Key must be 1 to 255 visible ASCII characters');
    }
    const ownerId = principalOf(req).owner_id;
    const f = await deps.balances.fund(ownerId, (req.body as FundBody).amount, { source: 'dev', idempotencyKey: header });
    if (f.duplicate) res.setHeader('Idempotent-Replayed', 'true');
    balanceReply(res, f.ownerId, f.balanceMicros);
  });

  r.get('/dev/balance', async (req, res) => {
    const ownerId = principalOf(req).owner_id;
    balanceReply(res, ownerId, await deps.balances.balanceOf(ownerId));
  });
  return r;
}
