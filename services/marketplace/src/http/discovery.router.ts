import { Router } from 'express';
import { errorFamily, validate } from '@platform/http';
import type { Discovery } from '../domain/discovery.service';
import { AgentIdParam, DiscoverQuery, RecommendationsQuery, TrendingQuery } from './discovery.schemas';
import { oneDecimal, renderService } from './render';

/** Spec 002 "Discovery": public reads over active services. */
export function discoveryRouter(deps: { discovery: Discovery }): Router {
  const { discovery } = deps;
  const r = Router();
  r.use('/api/v1/discover', errorFamily('detail'));

  r.get('/api/v1/discover', validate({ query: DiscoverQuery }), async (_req, res) => {
    const q = res.locals.query as DiscoverQuery;
    const { rows, total } = await discovery.search({
      q: q.q,
      category: q.category,
      tags: q.tags,
      minPriceMicros: q.min_price,
      maxPriceMicros: q.max_price,
      paymentMethod: q.payment_method,
      hasFreeTier: q.has_free_tier,
      sortBy: q.sort_by ?? (q.q ? 'relevance' : 'created_at'),
      limit: q.limit,
      offset: q.offset,
    });
    res.json({ services: rows.map(renderService), total, offset: q.offset, limit: q.limit });
  });

  r.get('/api/v1/discover/categories', async (_req, res) => {
    res.json({ categories: await discovery.categories() });
  });

  r.get('/api/v1/discover/trending', validate({ query: TrendingQuery }), async (_req, res) => {
    const q = res.locals.query as TrendingQuery;
    const trending = (await discovery.trending(q.limit)).map((t) => ({
      service: renderService(t.service),
      call_count: t.calls,
      avg_latency_ms: oneDecimal(t.latencyTotalMs, t.calls),
    }));
    res.json({ trending, count: trending.length });
  });

  r.get('/api/v1/discover/recommendations/:agent_id', validate({ params: AgentIdParam, query: RecommendationsQuery }), async (req, res) => {
    const q = res.locals.query as RecommendationsQuery;
    const recommendations = (await discovery.recommendations(String(req.params.agent_id), q.limit)).map(renderService);
    res.json({ recommendations, count: recommendations.length });
  });

  return r;
}
