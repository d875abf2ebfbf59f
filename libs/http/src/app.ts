import express, { Express, ErrorRequestHandler, RequestHandler } from 'express';
import { randomUUID } from 'node:crypto';
import type { Logger, ServiceMetrics } from '@platform/telemetry';
import { AppError, ErrorFamily, errorBody, ErrorCode } from './errors';
import { principalFromGateway } from './principal';

export interface ReadinessCheck {
  name: string;
  check: () => Promise<boolean>;
}

export interface BaseAppOptions {
  service: string;
  logger: Logger;
  metrics: ServiceMetrics;
  internalTokenSecret: string;
  readiness: ReadinessCheck[];
  /** Body size limit for JSON (default 1 MB). */
  jsonLimit?: string;
  /** Skip the JSON parser for these path prefixes (streamed bodies, e.g. the proxy). */
  rawPaths?: string[];
}

/** Route families pick their spec's error body shape. */
export function errorFamily(family: ErrorFamily): RequestHandler {
  return (_req, res, next) => {
    res.locals.errorFamily = family;
    next();
  };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The front half of every service app: request id, logging, metrics, principal, JSON body,
 * and /health, /ready, /metrics. Routers go after it, then `finishApp` adds 404 and errors.
 */
export function createBaseApp(opts: BaseAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
  app.set('etag', false);

  app.use((req, res, next) => {
    const incoming = req.headers['x-request-id'];
    req.requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-ID', req.requestId);
    req.log = opts.logger.child({ request_id: req.requestId });
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const route = (req.route?.path as string | undefined) ?? (res.statusCode === 404 ? 'unmatched' : req.baseUrl || 'other');
      opts.metrics.httpDuration.labels(req.method, `${req.baseUrl}${route === req.baseUrl ? '' : route}`, String(res.statusCode)).observe(seconds);
      if (req.path !== '/health' && req.path !== '/metrics' && req.path !== '/ready') {
        req.log.info({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(seconds * 1e4) / 10 }, 'request');
      }
    });
    next();
  });

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', service: opts.service, timestamp: new Date().toISOString() });
  });
  app.get('/ready', async (_req, res) => {
    const results = await Promise.all(
      opts.readiness.map(async (r) => {
        const ok = await Promise.race([r.check().catch(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2_000))]);
        return [r.name, ok ? 'ok' : 'unavailable'] as const;
      }),
    );
    const ready = results.every(([, s]) => s === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', service: opts.service, checks: Object.fromEntries(results) });
  });
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', opts.metrics.registry.contentType);
    res.send(await opts.metrics.registry.metrics());
  });

  app.use(principalFromGateway(opts.internalTokenSecret));
  const json = express.json({ limit: opts.jsonLimit ?? '1mb' });
  const raw = opts.rawPaths ?? [];
  app.use((req, res, next) => (raw.some((p) => req.path.startsWith(p)) ? next() : json(req, res, next)));
  return app;
}

export function finishApp(app: Express, logger: Logger): Express {
  app.use((req, res, next) => next(new AppError('NOT_FOUND', `No route for ${req.method} ${req.path}`)));
  app.use(errorMiddleware(logger));
  return app;
}

export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const family: ErrorFamily = res.locals.errorFamily ?? 'detail';
    let code: ErrorCode = 'INTERNAL';
    let message = 'Internal server error';
    let details: Record<string, unknown> | undefined;
    if (err instanceof AppError) {
      code = err.code;
      message = err.message;
      details = err.details;
      if (err.headers) for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
    } else if (err?.type === 'entity.parse.failed') {
      code = 'BAD_REQUEST';
      message = 'Request body is not valid JSON';
    } else if (err?.type === 'entity.too.large') {
      code = 'PAYLOAD_TOO_LARGE';
      message = 'Request body is too large';
    } else if (err?.type === 'encoding.unsupported' || err?.type === 'charset.unsupported') {
      code = 'BAD_REQUEST';
      message = 'Unsupported request body encoding';
    } else {
      (req.log ?? logger).error({ err }, 'unhandled error');
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const status = new AppError(code, message).status;
    res.status(status).json(errorBody(family, code, message, req.requestId, details));
  };
}

/** Express 5 passes rejected promises to the error middleware; this keeps handlers typed. */
export type Handler = RequestHandler;
