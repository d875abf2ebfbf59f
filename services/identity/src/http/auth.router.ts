import { ErrorRequestHandler, Router } from 'express';
import { errorFamily, principalOf, validate } from '@platform/http';
import type { AuthService } from '../domain/auth.service';
import type { DeviceService } from '../domain/device.service';
import { LoginBody, PollBody, RegisterBody, UserCodeBody, WalletBody } from './auth.schemas';
import { clientIp } from './client-ip';

/** Spec 001 route prefixes answering `{"error": …}`. */
export const SPEC001_AUTH_PATHS = ['/auth', '/api-keys'];

/**
 * Errors raised before a router runs (bad JSON, a body too large) would otherwise answer in
 * the default `{"detail"}` family; mounted on the app, this gives them spec 001's shape.
 */
export const spec001ErrorFamily: ErrorRequestHandler = (err, req, res, next) => {
  if (SPEC001_AUTH_PATHS.some((p) => req.path === p || req.path.startsWith(`${p}/`))) res.locals.errorFamily = 'error';
  next(err);
};

/** Spec 001 "Auth Endpoints": register, login, SIWE, device flow. */
export function authRouter(deps: { auth: AuthService; devices: DeviceService }): Router {
  const r = Router();
  r.use('/auth', errorFamily('error'));

  r.post('/auth/register', validate({ body: RegisterBody }), async (req, res) => {
    res.status(202).json(await deps.auth.register(req.body));
  });

  r.post('/auth/login', validate({ body: LoginBody }), async (req, res) => {
    res.json(await deps.auth.login(req.body, clientIp(req)));
  });

  r.post('/auth/wallet/nonce', async (_req, res) => {
    res.status(201).json(await deps.auth.walletNonce());
  });

  r.post('/auth/wallet', validate({ body: WalletBody }), async (req, res) => {
    res.json(await deps.auth.wallet(req.body));
  });

  r.post('/auth/device', async (_req, res) => {
    res.json(await deps.devices.start());
  });

  // RFC 8628 §3.5 / RFC 6749 §5.2: errors are 400 with `error` (the spec 001 field) and `error_description`.
  r.post('/auth/device/poll', validate({ body: PollBody }), async (req, res) => {
    const result = await deps.devices.poll(req.body.device_code);
    res.setHeader('Cache-Control', 'no-store');
    res.status('token' in result ? 200 : 400).json(result);
  });

  r.post('/auth/device/approve', validate({ body: UserCodeBody }), async (req, res) => {
    res.json(await deps.devices.approve(principalOf(req), req.body.user_code));
  });

  r.post('/auth/device/deny', validate({ body: UserCodeBody }), async (req, res) => {
    res.json(await deps.devices.deny(principalOf(req), req.body.user_code));
  });
  return r;
}
