import { Router } from 'express';
import { AppError, errorBody, errorFamily, requireService, validate } from '@platform/http';
import { z } from 'zod';
import type { BalanceService, DebitRequest, DebitResult } from '../domain/balances.service';
import { DebitBody } from './internal.schemas';

/** Most debits one batch may carry. */
export const DEBIT_BATCH_MAX = 500;

const DebitBatchBody = z.object({
  debits: z
    .array(z.unknown(), { error: 'debits must be an array of debits' })
    .min(1, 'debits must hold at least one debit')
    .max(DEBIT_BATCH_MAX, `debits must hold at most ${DEBIT_BATCH_MAX} debits`),
});

/** One item's answer: the status and body `POST /internal/debits` would have answered for it alone. */
export interface ItemAnswer {
  status: number;
  body: Record<string, unknown>;
}

export const debitRequestOf = (b: DebitBody): DebitRequest => ({
  usageId: b.usage_id,
  buyerId: b.buyer_id,
  amountMicros: b.amount_micros,
  providerId: b.provider_id,
  serviceId: b.service_id,
  ...(b.agent_id ? { agent: { agentId: b.agent_id, accountId: b.org_id ?? b.buyer_id } } : {}),
  ...(b.lease_id ? { leaseId: b.lease_id } : {}),
});

/** `POST /internal/debits`' answer; a lease debit adds `lease_remaining_micros` (= `balance_micros`, the lease's remaining). */
export const debitReply = (d: DebitResult) => ({
  usage_id: d.usageId,
  debited_micros: d.debitedMicros.toString(),
  balance_micros: d.balanceMicros.toString(),
  ...(d.leaseRemainingMicros !== undefined ? { lease_remaining_micros: d.leaseRemainingMicros.toString() } : {}),
  duplicate: d.duplicate,
});

/**
 * `POST /internal/debits/batch` `{"debits": [<a /internal/debits body>, …]}` → 200
 * `{"results": [{"status", "body"}, …]}`, one per debit in order, each exactly what
 * `POST /internal/debits` answers for it alone (200, 400, 402, 403, 404, 409; 500 when that
 * debit could not be decided, so the caller treats it as unknown and refunds it). Metering sends
 * the debits of concurrent calls together; wallets applies them in one statement when it can.
 */
export function debitBatchRouter(deps: { balances: Pick<BalanceService, 'debitMany'> }): Router {
  const r = Router();
  r.post('/internal/debits/batch', errorFamily('detail'), requireService, validate({ body: DebitBatchBody }), async (req, res) => {
    const items = (req.body as z.infer<typeof DebitBatchBody>).debits;
    const answers: (ItemAnswer | null)[] = items.map(() => null);
    const valid: { at: number; req: DebitRequest }[] = [];
    items.forEach((item, at) => {
      const parsed = DebitBody.safeParse(item);
      if (parsed.success) valid.push({ at, req: debitRequestOf(parsed.data) });
      else {
        const issue = parsed.error.issues[0];
        answers[at] = { status: 400, body: errorBody('detail', 'BAD_REQUEST', `${issue.path.join('.') || 'debit'}: ${issue.message}`, req.requestId) };
      }
    });
    const outcomes = await deps.balances.debitMany(valid.map((v) => v.req));
    outcomes.forEach((o, i) => {
      const at = valid[i].at;
      if (o.ok) {
        answers[at] = { status: 200, body: debitReply(o.result) };
      } else if (o.error instanceof AppError) {
        answers[at] = { status: o.error.status, body: errorBody('detail', o.error.code, o.error.message, req.requestId, o.error.details) };
      } else {
        req.log.error({ err: o.error, usage_id: valid[i].req.usageId }, 'debit in a batch failed');
        answers[at] = { status: 500, body: errorBody('detail', 'INTERNAL', 'The debit could not be decided; refund its usage id to be sure', req.requestId) };
      }
    });
    res.json({ results: answers });
  });
  return r;
}
