import express, { Router } from 'express';
import { AppError, errorFamily, principalOf, requireAuth, validate } from '@platform/http';
import { centsToUsd, CreditPack, CreditPricing } from '../domain/credit-packs';
import type { CreditService } from '../domain/credits.service';
import { CreditPurchaseService, PurchaseReply, iso } from '../domain/credit-purchases.service';
import { IDEMPOTENCY_KEY, PurchaseBody } from './agent-credits.schemas';

/** In the service's rawPaths: the base app's JSON parser would answer a bad body as {"detail"}. */
export const AGENT_CREDITS_PATH = '/agent-credits';

/** Credits are whole numbers on the wire, as spec 000 shows (`"balance": 95`). */
const n = (v: bigint) => Number(v);
const packView = (p: CreditPack) => ({ id: p.id, credits: p.credits, price_usd: centsToUsd(p.priceCents) });

function purchaseView(r: PurchaseReply) {
  switch (r.status) {
    case 'completed':
      return { status: r.status, credits_added: r.creditsAdded, new_balance: n(r.newBalance), amount_charged_usd: centsToUsd(r.amountChargedCents) };
    case 'pending_payment':
      return { status: r.status, payment_url: r.paymentUrl, expires_at: iso(r.expiresAt) };
    default:
      return { status: r.status };
  }
}

/** Spec 000 `GET /agent-credits` and `POST /agent-credits`; errors as `{"ok": false, "error": {…}}`. */
export function agentCreditsRouter(deps: { credits: CreditService; purchases: CreditPurchaseService; pricing: CreditPricing }): Router {
  const r = Router();
  // JSON is parsed here, after the family is set, so a malformed body is answered in spec 000's shape too.
  r.use(AGENT_CREDITS_PATH, errorFamily('ok'), express.json({ limit: '16kb' }), requireAuth, (req, _res, next) => {
    // Service tokens hold no credits; only a caller's own key or token does.
    if (principalOf(req).kind === 'internal') return next(new AppError('FORBIDDEN', 'Credits belong to an API key owner, not to a service'));
    next();
  });

  r.get('/agent-credits', async (req, res) => {
    const ownerId = principalOf(req).owner_id;
    const [s, hasPaymentMethod] = await Promise.all([deps.credits.summary(ownerId), deps.purchases.hasPaymentMethod(ownerId)]);
    res.json({
      ok: true,
      data: {
        balance: n(s.balance),
        lifetime_purchased: n(s.lifetimePurchased),
        lifetime_consumed: n(s.lifetimeConsumed),
        has_payment_method: hasPaymentMethod,
        pricing: { ...deps.pricing },
        packs: deps.purchases.packs.map(packView),
      },
    });
  });

  r.post('/agent-credits', validate({ body: PurchaseBody }), async (req, res) => {
    const header = req.get('idempotency-key');
    if (header !== undefined && !IDEMPOTENCY_KEY.test(header)) {
      throw new AppError('BAD_REQUEST', 'Idempotency-Key must be 1 to 255 visible ASCII characters');
    }
    const reply = await deps.purchases.purchase(principalOf(req).owner_id, (req.body as PurchaseBody).pack_id, header);
    if (reply.replayed) res.setHeader('Idempotent-Replayed', 'true');
    res.status(reply.status === 'processing' ? 202 : 200).json({ ok: true, data: purchaseView(reply) });
  });
  return r;
}
