import { Router } from 'express';
import { errorFamily, requireService, validate } from '@platform/http';
import type { CredentialsService } from '../domain/credentials.service';
import { VerifyCredentialBody } from './credentials.schemas';

/** CONTRACTS "Identity <-> gateway": the gateway's only way to learn who a caller is. */
export function credentialsRouter(deps: { credentials: CredentialsService }): Router {
  const r = Router();
  r.use('/internal', errorFamily('detail'), requireService);
  r.post('/internal/credentials/verify', validate({ body: VerifyCredentialBody }), async (req, res) => {
    res.json(await deps.credentials.verify(req.body.credential));
  });
  return r;
}
