import express, { Router } from 'express';
import { errorFamily } from '@platform/http';
import type { CreditPurchaseService } from '../domain/credit-purchases.service';

/** Stripe signs the exact bytes it sends; this path is in the service's rawPaths, so nothing parses them first. */
export const STRIPE_WEBHOOK_PATH = '/stripe/webhook';

/**
 * `POST /stripe/webhook` (no API key: Stripe authenticates with `Stripe-Signature`). Answers
 * 2xx for every verified event, handled or not, so Stripe stops redelivering; 400 for a
 * missing or wrong signature, which changes nothing. Errors as `{"error": …}`.
 */
export function stripeWebhookRouter(deps: { purchases: CreditPurchaseService }): Router {
  const r = Router();
  r.use(STRIPE_WEBHOOK_PATH, errorFamily('error'));
  r.post(STRIPE_WEBHOOK_PATH, express.raw({ type: () => true, limit: '1mb' }), async (req, res) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const outcome = await deps.purchases.handleWebhook(raw, req.get('stripe-signature'));
    res.json(outcome);
  });
  return r;
}
