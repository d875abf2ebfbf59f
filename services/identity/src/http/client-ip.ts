import type { Request } from 'express';
import { CLIENT_IP_HEADER } from '@platform/auth';

const ADDRESS = /^[0-9A-Fa-f:.]{2,45}$/;

/**
 * The caller's address for per-address guessing limits: the gateway's view (it overwrites any
 * client-sent X-Client-IP), else the socket's when identity is called directly.
 */
export function clientIp(req: Request): string {
  const fromGateway = req.headers[CLIENT_IP_HEADER];
  if (typeof fromGateway === 'string' && ADDRESS.test(fromGateway)) return fromGateway;
  return req.ip ?? req.socket.remoteAddress ?? 'unknown';
}
