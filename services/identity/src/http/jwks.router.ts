import { Router } from 'express';
import { errorFamily, requireService } from '@platform/http';
import type { TokenIssuer } from '../domain/tokens';

/** The public halves of JWT_SIGNING_KEYS (RFC 7517); gateways verify user tokens with them. */
export function jwksRouter(deps: { tokens: TokenIssuer }): Router {
  const r = Router();
  r.get('/internal/jwks', errorFamily('detail'), requireService, (_req, res) => {
    res.setHeader('Cache-Control', 'max-age=60');
    res.json(deps.tokens.jwks());
  });
  return r;
}
