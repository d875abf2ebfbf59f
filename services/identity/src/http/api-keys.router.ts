import { Router } from 'express';
import { errorFamily, principalOf, requireAuth, validate } from '@platform/http';
import type { ApiKeysService } from '../domain/api-keys.service';
import { ApiKeyParams, CreateApiKeyBody, ListApiKeysQuery } from './api-keys.schemas';

/** Spec 001 "API Keys". */
export function apiKeysRouter(deps: { apiKeys: ApiKeysService }): Router {
  const r = Router();
  r.use('/api-keys', errorFamily('error'), requireAuth);

  r.post('/api-keys', validate({ body: CreateApiKeyBody }), async (req, res) => {
    res.status(201).json(await deps.apiKeys.create(principalOf(req), req.body));
  });

  r.get('/api-keys', validate({ query: ListApiKeysQuery }), async (req, res) => {
    const page = res.locals.query as { limit: number; offset: number };
    const keys = await deps.apiKeys.list(principalOf(req), page);
    res.json({
      api_keys: keys.map((k) => ({
        id: k.id,
        name: k.name,
        prefix: k.prefix,
        created_at: k.createdAt.toISOString(),
        revoked: k.revokedAt !== null,
        revoked_at: k.revokedAt?.toISOString() ?? null,
      })),
      limit: page.limit,
      offset: page.offset,
    });
  });

  r.delete('/api-keys/:id', validate({ params: ApiKeyParams }), async (req, res) => {
    const { id } = res.locals.params as { id: string };
    res.json(await deps.apiKeys.revoke(principalOf(req), id));
  });
  return r;
}
