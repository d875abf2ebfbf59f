import { Router } from 'express';
import { errorFamily, requireService, validate } from '@platform/http';
import type { PaymentService } from '../domain/payments.service';
import type { SessionService } from '../domain/sessions.service';
import { AuthorizeBody, Eip3009Body, IdParams, NonceParams, SessionDebitBody, SessionRefundBody } from './wallet-internal.schemas';

/**
 * Metering's synchronous paths into agent wallets (README "Internal contracts"); service
 * tokens only, errors as {"detail": …} with `errors.reason` naming the refusal.
 */
export function walletInternalRouter(deps: { sessions: SessionService; payments: PaymentService }): Router {
  const r = Router();
  r.use('/internal', errorFamily('detail'), requireService);

  r.post('/internal/sessions/:id/debits', validate({ params: IdParams, body: SessionDebitBody }), async (req, res) => {
    const b = req.body as SessionDebitBody;
    const d = await deps.sessions.debit({
      sessionId: (res.locals.params as { id: string }).id,
      accountId: b.org_id ?? b.owner_id,
      usageId: b.usage_id,
      amountMicros: b.amount_micros,
      serviceId: b.service_id,
      providerId: b.provider_id,
      agentId: b.agent_id ?? null,
    });
    res.json({
      usage_id: d.usageId,
      session_id: d.sessionId,
      debited_micros: d.debitedMicros.toString(),
      remaining_micros: d.remainingMicros.toString(),
      used_micros: d.usedMicros.toString(),
      call_count: d.callCount,
      duplicate: d.duplicate,
      agent_id: d.agentId,
      per_call_max: d.perCallMaxMicros?.toString() ?? null,
    });
  });

  r.post('/internal/sessions/:id/refunds', validate({ params: IdParams, body: SessionRefundBody }), async (req, res) => {
    const d = await deps.sessions.refund((res.locals.params as { id: string }).id, (req.body as SessionRefundBody).usage_id);
    res.json({
      usage_id: d.usageId,
      session_id: d.sessionId,
      refunded_micros: d.refundedMicros.toString(),
      remaining_micros: d.remainingMicros.toString(),
      refunded_to: d.refundedTo,
      duplicate: d.duplicate,
    });
  });

  r.post('/internal/agents/authorize', validate({ body: AuthorizeBody }), async (req, res) => {
    const b = req.body as AuthorizeBody;
    const v = await deps.payments.authorize({
      accountId: b.org_id ?? b.owner_id,
      agent: b.agent,
      service: b.service ?? null,
      amountMicros: b.amount_micros ?? null,
      sessionId: b.session_id ?? null,
    });
    const p = v.agent.policy;
    res.json({
      allowed: v.allowed,
      code: v.code,
      reason: v.reason,
      agent_id: v.agent.id,
      agent_name: v.agent.name,
      wallet_address: v.agent.walletAddress,
      department_id: v.agent.departmentId,
      policy: {
        per_call_max: p.perCallMax?.toString() ?? null,
        daily_limit: p.dailyLimit?.toString() ?? null,
        monthly_limit: p.monthlyLimit?.toString() ?? null,
        spending_cap: p.spendingCap?.toString() ?? null,
        require_session: p.requireSession,
      },
      session: v.session ? { id: v.session.id, remaining_micros: v.session.remainingMicros.toString() } : null,
      usdc_balance: v.usdcBalance?.toString() ?? null,
    });
  });

  r.post('/internal/agents/:id/eip3009-authorizations', validate({ params: IdParams, body: Eip3009Body }), async (req, res) => {
    const b = req.body as Eip3009Body;
    const s = await deps.payments.signEip3009({
      agentId: (res.locals.params as { id: string }).id,
      to: b.to,
      value: b.value,
      validAfter: b.valid_after,
      validBefore: b.valid_before,
      nonce: b.nonce,
      service: b.service ?? null,
      usageId: b.usage_id ?? null,
    });
    const a = s.authorization;
    res.status(201).json({
      authorization: { from: a.from, to: a.to, value: a.value.toString(), validAfter: a.validAfter.toString(), validBefore: a.validBefore.toString(), nonce: a.nonce },
      signature: s.signature,
    });
  });

  r.post('/internal/agents/:id/eip3009-authorizations/:nonce/void', validate({ params: NonceParams }), async (_req, res) => {
    const p = res.locals.params as NonceParams;
    const v = await deps.payments.voidAuthorization(p.id, p.nonce);
    res.json({ agent_id: v.agentId, nonce: v.nonce, usage_id: v.usageId, voided_micros: v.voidedMicros.toString(), duplicate: v.duplicate });
  });
  return r;
}
