import type { RequestHandler, Request } from 'express';
import { Principal, verifyPrincipal, INTERNAL_PRINCIPAL_HEADER } from '@platform/auth';
import { AppError } from './errors';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      principal?: Principal;
      requestId: string;
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      log: any;
    }
  }
}

/** Reads the gateway-signed principal; an invalid token is treated as no principal. */
export function principalFromGateway(secret: string): RequestHandler {
  return (req, _res, next) => {
    const token = req.headers[INTERNAL_PRINCIPAL_HEADER];
    if (typeof token === 'string' && token) {
      const p = verifyPrincipal(token, secret);
      if (p) req.principal = p;
    }
    next();
  };
}

export function principalOf(req: Request): Principal {
  if (!req.principal) throw new AppError('UNAUTHORIZED', 'Missing or invalid API key');
  return req.principal;
}

export const requireAuth: RequestHandler = (req, _res, next) => {
  if (!req.principal) return next(new AppError('UNAUTHORIZED', 'Missing or invalid API key'));
  next();
};

export function requireRole(...roles: string[]): RequestHandler {
  return (req, _res, next) => {
    if (!req.principal) return next(new AppError('UNAUTHORIZED', 'Missing or invalid API key'));
    if (!req.principal.roles.some((r) => roles.includes(r))) {
      return next(new AppError('FORBIDDEN', `Requires ${roles.join(' or ')} role`));
    }
    next();
  };
}

/** Service-to-service routes under /internal accept only tokens minted for services. */
export const requireService: RequestHandler = (req, _res, next) => {
  if (req.principal?.kind !== 'internal') return next(new AppError('FORBIDDEN', 'internal route'));
  next();
};
