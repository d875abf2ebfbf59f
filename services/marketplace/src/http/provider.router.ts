import { Router } from 'express';
import { errorFamily, principalOf, requireRole, validate } from '@platform/http';
import { formatUsd, toUsdNumber } from '@platform/money';
import { ONBOARDING_STEPS, ProviderPortal } from '../domain/provider.service';
import { ProviderServicesQuery } from './provider.schemas';
import { isoOffset, oneDecimal, uuidParam } from './render';

/** Spec 002 "Provider Portal": My Services, Test Service Endpoint, Onboarding Progress. */
export function providerRouter(deps: { portal: ProviderPortal }): Router {
  const { portal } = deps;
  const r = Router();
  r.use('/api/v1/provider', errorFamily('detail'), requireRole('provider', 'admin'));

  r.get('/api/v1/provider/services', validate({ query: ProviderServicesQuery }), async (req, res) => {
    const q = res.locals.query as ProviderServicesQuery;
    const rows = await portal.myServices(principalOf(req), q);
    res.json({
      services: rows.map(({ service: s, usage: u }) => ({
        id: s.id,
        name: s.name,
        description: s.description,
        endpoint: s.endpoint,
        price_per_call: formatUsd(s.priceMicros),
        status: s.status,
        category: s.category,
        total_calls: u.calls,
        // Spec 002 shows revenue as a number (250.00); the amounts behind it are exact micro-USDC.
        total_revenue: toUsdNumber(u.revenueMicros),
        avg_latency_ms: oneDecimal(u.latencyTotalMs, u.calls),
        created_at: isoOffset(s.createdAt),
      })),
    });
  });

  r.post('/api/v1/provider/services/:service_id/test', async (req, res) => {
    const { service, result } = await portal.testEndpoint(principalOf(req), uuidParam(req.params.service_id, 'Service'));
    res.json({
      service_id: service.id,
      endpoint: service.endpoint,
      reachable: result.reachable,
      latency_ms: result.latencyMs,
      status_code: result.statusCode,
      error: result.error,
    });
  });

  r.get('/api/v1/provider/onboarding', async (req, res) => {
    const principal = principalOf(req);
    const done = await portal.onboarding(principal);
    const steps = Object.fromEntries(ONBOARDING_STEPS.map(([key, label]) => [key, { completed: done[key], label }]));
    const completed = ONBOARDING_STEPS.filter(([key]) => done[key]).length;
    res.json({
      provider_id: principal.owner_id,
      steps,
      completed_steps: completed,
      total_steps: ONBOARDING_STEPS.length,
      completion_pct: Math.round((completed / ONBOARDING_STEPS.length) * 1000) / 10,
    });
  });

  return r;
}
