import { Router } from 'express';
import { errorFamily, principalOf, requireAuth, validate, AppError } from '@platform/http';
import type { WebhookService } from '../domain/webhooks.service';
import { CreateWebhookBody, ListWebhooksQuery } from './webhooks.schemas';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Spec 002 "Webhooks": subscribe, list, unsubscribe. Any authenticated caller; each sees only its own. */
export function webhooksRouter(deps: { webhooks: WebhookService }): Router {
  const r = Router();
  r.use('/api/v1/webhooks', errorFamily('detail'), requireAuth);

  r.post('/api/v1/webhooks', validate({ body: CreateWebhookBody }), async (req, res) => {
    const body = req.body as CreateWebhookBody;
    res.status(201).json(await deps.webhooks.create(principalOf(req).owner_id, body));
  });

  r.get('/api/v1/webhooks', validate({ query: ListWebhooksQuery }), async (req, res) => {
    const webhooks = await deps.webhooks.list(principalOf(req).owner_id, res.locals.query as ListWebhooksQuery);
    res.json({ webhooks, count: webhooks.length });
  });

  r.delete('/api/v1/webhooks/:webhook_id', async (req, res) => {
    const id = req.params.webhook_id;
    // Ids are UUIDs; anything else cannot name a webhook.
    if (!UUID.test(id)) throw new AppError('NOT_FOUND', 'Webhook not found');
    res.json(await deps.webhooks.remove(principalOf(req).owner_id, id.toLowerCase()));
  });
  return r;
}
