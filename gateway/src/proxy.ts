import http from 'node:http';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import type { Request, Response, NextFunction } from 'express';
import { createProxyMiddleware } from 'http-proxy-middleware';
import { context, propagation } from '@opentelemetry/api';
import { INTERNAL_HEADERS, INTERNAL_PRINCIPAL_HEADER, Principal, PrincipalTokenCache } from '@platform/auth';
import { errorBody, ErrorFamily } from '@platform/http';
import type { Logger } from '@platform/telemetry';
import type { RouteEntry, ServiceName } from './routes';

/** What the gateway decided about a request before forwarding it. */
export interface Forward {
  route: RouteEntry;
  requestId: string;
  principal: Principal | null;
  /** The credential headers the gateway consumed; services get the principal instead. */
  consumedCredential: boolean;
}

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * Rewrites the request's headers for the service: client-sent internal headers are deleted
 * (only the gateway may vouch for a caller), the signed principal, request id and trace
 * context are set. The body is not touched: it streams through as the client sent it.
 */
export function prepareHeaders(req: Request, f: Forward, tokens: PrincipalTokenCache): void {
  const h = req.headers;
  for (const name of INTERNAL_HEADERS) delete h[name];
  if (f.principal) h[INTERNAL_PRINCIPAL_HEADER] = tokens.tokenFor(f.principal);
  if (f.consumedCredential) {
    delete h.authorization;
    delete h['x-api-key'];
  }
  h['x-request-id'] = f.requestId;
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  if (carrier.traceparent) {
    h.traceparent = carrier.traceparent;
    if (carrier.tracestate) h.tracestate = carrier.tracestate;
  } else if (typeof h.traceparent !== 'string' || !TRACEPARENT.test(h.traceparent)) {
    // No tracer and no valid incoming context: start one so the services' logs still join up.
    h.traceparent = `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
    delete h.tracestate;
  }
}

export interface ServiceProxies {
  forward(service: ServiceName, req: Request, res: Response, next: NextFunction): void;
  close(): void;
}

type TimedError = Error & { code?: string };

/**
 * One http-proxy-middleware per service over keep-alive agents, round-robin across the
 * service's replicas. A replica that refuses, resets or cannot be reached answers 503 in the
 * route's family naming the service; one that is too slow answers 504. Other services are
 * unaffected.
 */
export function createServiceProxies(opts: { upstreams: Record<ServiceName, string[]>; timeoutMs: number; logger: Logger }): ServiceProxies {
  const httpAgent = new http.Agent({ keepAlive: true, keepAliveMsecs: 1_000, maxSockets: 512, maxFreeSockets: 64 });
  const httpsAgent = new https.Agent({ keepAlive: true, keepAliveMsecs: 1_000, maxSockets: 512, maxFreeSockets: 64 });

  const handlers = new Map<ServiceName, ReturnType<typeof createProxyMiddleware<Request, Response>>>();
  for (const [service, urls] of Object.entries(opts.upstreams) as [ServiceName, string[]][]) {
    let next = 0;
    handlers.set(
      service,
      createProxyMiddleware<Request, Response>({
        target: urls[0],
        router: () => urls[next++ % urls.length],
        agent: urls[0].startsWith('https:') ? httpsAgent : httpAgent,
        xfwd: true,
        changeOrigin: false,
        on: {
          proxyReq(proxyReq) {
            proxyReq.setTimeout(opts.timeoutMs, () => {
              const err: TimedError = new Error(`${service} did not answer within ${opts.timeoutMs} ms`);
              err.code = 'ETIMEDOUT';
              proxyReq.destroy(err);
            });
          },
          error(err: TimedError, req, res) {
            const f = (req as Request).forward;
            const family: ErrorFamily = f?.route.family ?? 'detail';
            const timeout = err.code === 'ETIMEDOUT';
            opts.logger.warn({ service, code: err.code, err: err.message, request_id: f?.requestId }, 'upstream failed');
            if (!(res instanceof http.ServerResponse)) {
              (res as unknown as { destroy(): void }).destroy();
              return;
            }
            if (res.headersSent) {
              res.destroy();
              return;
            }
            const message = timeout ? `${service} service did not answer in time` : `${service} service is unavailable`;
            const code = timeout ? 'GATEWAY_TIMEOUT' : 'UNAVAILABLE';
            res.statusCode = timeout ? 504 : 503;
            res.setHeader('content-type', 'application/json; charset=utf-8');
            res.end(JSON.stringify(errorBody(family, code, message, f?.requestId)));
          },
        },
      }),
    );
  }

  return {
    forward(service, req, res, next) {
      const handler = handlers.get(service);
      if (!handler) return next(new Error(`no proxy for ${service}`));
      void handler(req, res, next);
    },
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      forward?: Forward;
    }
  }
}
