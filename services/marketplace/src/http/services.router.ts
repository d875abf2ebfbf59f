import { Router } from 'express';
import { errorFamily, principalOf, requireRole, validate } from '@platform/http';
import type { ServiceRegistry } from '../domain/services.service';
import type { ServiceChanges } from '../db/services.repository';
import { CreateServiceBody, ListServicesQuery, UpdateServiceBody } from './services.schemas';
import { renderService, uuidParam } from './render';

const serviceId = (raw: string | string[] | undefined) => uuidParam(raw, 'Service');

export function servicesRouter(deps: { registry: ServiceRegistry }): Router {
  const { registry } = deps;
  const r = Router();
  r.use('/api/v1/services', errorFamily('detail'));

  r.post('/api/v1/services', requireRole('provider', 'admin'), validate({ body: CreateServiceBody }), async (req, res) => {
    const b = req.body as CreateServiceBody;
    const s = await registry.register(principalOf(req), {
      name: b.name,
      description: b.description,
      endpoint: b.endpoint,
      priceMicros: b.price_per_call,
      paymentMethod: b.payment_method,
      freeTierCalls: b.free_tier_calls,
      category: b.category,
      tags: b.tags,
    });
    res.status(201).json(renderService(s));
  });

  r.get('/api/v1/services', validate({ query: ListServicesQuery }), async (_req, res) => {
    const q = res.locals.query as ListServicesQuery;
    const services = await registry.list({ text: q.query || undefined, category: q.category || undefined, status: q.status, limit: q.limit, offset: q.offset });
    // `count` is the number of services in this page (spec 002 shows it beside offset/limit).
    res.json({ services: services.map((s) => renderService(s)), count: services.length, offset: q.offset, limit: q.limit });
  });

  r.get('/api/v1/services/:service_id', async (req, res) => {
    res.json(renderService(await registry.get(serviceId(req.params.service_id))));
  });

  r.patch('/api/v1/services/:service_id', requireRole('provider', 'admin'), validate({ body: UpdateServiceBody }), async (req, res) => {
    const b = req.body as UpdateServiceBody;
    const changes: ServiceChanges = {
      name: b.name,
      description: b.description,
      endpoint: b.endpoint,
      priceMicros: b.price_per_call,
      status: b.status,
      category: b.category,
      tags: b.tags,
      paymentMethod: b.payment_method,
      freeTierCalls: b.free_tier_calls,
    };
    const s = await registry.update(principalOf(req), serviceId(req.params.service_id), changes);
    res.json(renderService(s));
  });

  r.delete('/api/v1/services/:service_id', requireRole('provider', 'admin'), async (req, res) => {
    const s = await registry.remove(principalOf(req), serviceId(req.params.service_id));
    res.json({ status: 'removed', id: s.id });
  });

  return r;
}
