import { Router } from 'express';
import { errorFamily, principalOf, requireRole, validate } from '@platform/http';
import type { KeysService } from '../domain/keys.service';
import { CreateKeyBody, KeyParams, ListKeysQuery, ValidateKeyBody } from './keys.schemas';
import { isoSeconds } from './format';
import type { AttemptLimiter } from '../domain/attempts';
import { clientIp } from './client-ip';

/** Spec 002 "Authentication" and "My API Keys". */
export function keysRouter(deps: { keys: KeysService; guard: { limiter: AttemptLimiter; maxFailuresPerIp: number } }): Router {
  const r = Router();
  r.use(['/api/v1/keys', '/api/v1/provider/keys'], errorFamily('detail'));

  r.post('/api/v1/keys', validate({ body: CreateKeyBody }), async (req, res) => {
    const created = await deps.keys.create(req.principal, req.body as CreateKeyBody);
    res.status(201).json({ ...created, message: 'Save the secret — it cannot be retrieved again.' });
  });

  r.post('/api/v1/keys/validate', validate({ body: ValidateKeyBody }), async (req, res) => {
    // Guessing resistance: failed validations are limited per client address (429 + Retry-After).
    const bucket = `validate-ip:${clientIp(req)}`;
    await deps.guard.limiter.take([{ bucket, max: deps.guard.maxFailuresPerIp }], 'Too many failed validations');
    const key = await deps.keys.authenticate(req.body.key_id, req.body.secret);
    await deps.guard.limiter.succeeded([bucket]);
    res.json({ valid: true, owner_id: key.ownerId, role: key.role, rate_limit: key.rateLimit });
  });

  r.get('/api/v1/provider/keys', requireRole('provider', 'admin'), validate({ query: ListKeysQuery }), async (req, res) => {
    const { limit, offset } = res.locals.query as { limit: number; offset: number };
    const keys = await deps.keys.listOwn(principalOf(req).owner_id, { limit, offset });
    res.json({
      keys: keys.map((k) => ({
        key_id: k.id,
        role: k.role,
        rate_limit: k.rateLimit,
        wallet_address: k.walletAddress,
        created_at: isoSeconds(k.createdAt),
        expires_at: isoSeconds(k.expiresAt),
      })),
    });
  });

  r.delete('/api/v1/provider/keys/:key_id', requireRole('provider', 'admin'), validate({ params: KeyParams }), async (req, res) => {
    const { key_id } = res.locals.params as { key_id: string };
    res.json(await deps.keys.revoke(principalOf(req), key_id));
  });
  return r;
}
