import express, { Express, ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { PrincipalTokenCache, Principal } from '@platform/auth';
import { AppError, ErrorCode, ErrorFamily, errorBody, listen, ReadinessCheck, RunningServer } from '@platform/http';
import { createBus, EventBus, InProcessBus, sleep } from '@platform/events';
import { createLogger, createMetrics, Logger, ServiceMetrics } from '@platform/telemetry';
import type { GatewayConfig } from './config';
import { RouteTable, familyForPath, ServiceName, SERVICE_NAMES, RouteEntry } from './routes';
import { CredentialVerifier, IdentityClient, credentialFrom, httpIdentityClient } from './auth';
import { BucketResult, RateLimitStore, createRateLimitStore } from './rate-limit';
import { ServiceProxies, createServiceProxies, prepareHeaders } from './proxy';
import { SERVICE_INFO, agentsJson, aiPlugin, llmsTxt } from './discovery';

export interface GatewayDeps {
  config: GatewayConfig;
  logger: Logger;
  verifier: CredentialVerifier;
  rateLimits: RateLimitStore;
  proxies: ServiceProxies;
  metrics?: ServiceMetrics;
  routes?: RouteTable;
  readiness?: ReadinessCheck[];
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const RATE_LIMITED = 'Rate limit exceeded. Try again later.';

function setRateHeaders(res: Response, limit: number, r: BucketResult): void {
  res.setHeader('RateLimit-Limit', String(limit));
  res.setHeader('RateLimit-Remaining', String(r.remaining));
  res.setHeader('RateLimit-Reset', String(r.allowed ? r.resetS : r.retryAfterS));
  if (!r.allowed) res.setHeader('Retry-After', String(r.retryAfterS));
}

/**
 * The public entry: request ids, per-IP and per-key token buckets, credential verification,
 * routing by path family, and forwarding with a signed principal. Bodies are never parsed.
 */
export function createGateway(deps: GatewayDeps): Express {
  const { config, logger, verifier, rateLimits, proxies } = deps;
  const metrics = deps.metrics ?? createMetrics('gateway');
  const table = deps.routes ?? new RouteTable();
  const tokens = new PrincipalTokenCache(config.INTERNAL_TOKEN_SECRET);
  const ipBucket = { capacity: config.RATE_LIMIT_IP_BURST, perMinute: config.RATE_LIMIT_IP_PER_MIN };
  const base = config.PUBLIC_BASE_URL;

  let lastStoreWarning = 0;
  /** Rate limiting fails open: a Redis outage must not take the whole platform down with it. */
  async function take(key: string, spec: { capacity: number; perMinute: number }): Promise<BucketResult | null> {
    try {
      return await rateLimits.take(key, spec);
    } catch (err) {
      if (Date.now() - lastStoreWarning > 10_000) {
        lastStoreWarning = Date.now();
        logger.warn({ err: String(err), store: rateLimits.kind }, 'rate-limit store unavailable; not limiting');
      }
      return null;
    }
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('trust proxy', config.TRUST_PROXY);

  app.use((req, res, next) => {
    const incoming = req.headers['x-request-id'];
    req.requestId = typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-ID', req.requestId);
    req.log = logger.child({ request_id: req.requestId });
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const route = req.forward?.route.pattern ?? (res.statusCode === 404 ? 'unmatched' : req.path);
      metrics.httpDuration.labels(req.method, route, String(res.statusCode)).observe(seconds);
      if (req.path !== '/health' && req.path !== '/metrics' && req.path !== '/ready') {
        req.log.info({ method: req.method, path: req.path, status: res.statusCode, service: req.forward?.route.service, ms: Math.round(seconds * 1e4) / 10 }, 'request');
      }
    });
    next();
  });

  // Spec 002 "Health Check".
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', timestamp: new Date().toISOString().replace('Z', '+00:00') });
  });
  app.get('/ready', async (_req, res) => {
    const checks = [{ name: 'rate_limit_store', check: () => rateLimits.healthy() }, ...(deps.readiness ?? [])];
    const results = await Promise.all(
      checks.map(async (c) => {
        const ok = await Promise.race([c.check().catch(() => false), sleep(2_000).then(() => false)]);
        return [c.name, ok ? 'ok' : 'unavailable'] as const;
      }),
    );
    const ready = results.every(([, s]) => s === 'ok');
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', service: 'gateway', checks: Object.fromEntries(results) });
  });
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });

  // Spec 002: 60 requests per minute per IP with a burst of 120, before any other work.
  app.use(async (req, res, next) => {
    const r = await take(`ip:${req.ip ?? req.socket.remoteAddress ?? 'unknown'}`, ipBucket);
    if (r) {
      setRateHeaders(res, ipBucket.capacity, r);
      if (!r.allowed) {
        return next(new AppError('RATE_LIMITED', RATE_LIMITED, undefined, { 'Retry-After': String(r.retryAfterS) }));
      }
    }
    next();
  });

  // The gateway's own documents (spec 002 `GET /`, spec 000 machine-readable discovery).
  app.get('/', (_req, res) => {
    res.json(SERVICE_INFO);
  });
  app.get('/agents.json', (_req, res) => {
    res.json(agentsJson(base, table.routes, { perMinute: config.RATE_LIMIT_IP_PER_MIN, burst: config.RATE_LIMIT_IP_BURST }));
  });
  app.get('/.well-known/ai-plugin.json', (_req, res) => {
    res.json(aiPlugin(base));
  });
  app.get('/llms.txt', (_req, res) => {
    res.type('text/plain; charset=utf-8').send(llmsTxt(base, table.routes));
  });
  app.get('/llms-full.txt', (_req, res) => {
    res.type('text/plain; charset=utf-8').send(llmsTxt(base, table.routes, true));
  });
  app.get('/docs', (_req, res) => {
    res.type('text/markdown; charset=utf-8').send(llmsTxt(base, table.routes, true));
  });

  const forward: RequestHandler = async (req, res, next) => {
    const route = table.match(req.path);
    if (!route) throw new AppError('NOT_FOUND', `No route for ${req.method} ${req.path}`);
    res.locals.errorFamily = route.family;

    const source = credentialFrom(req, route.queryCredential);
    let principal: Principal | null = null;
    if (source && 'malformed' in source) throw new AppError('UNAUTHORIZED', source.malformed);
    if (source) {
      principal = await verifier.verify(source.credential);
      if (!principal) throw new AppError('UNAUTHORIZED', 'Invalid or revoked API key');
    } else if (route.auth === 'required') {
      throw new AppError('UNAUTHORIZED', 'Missing or invalid API key');
    }

    // Spec 002: each key also has its own rate_limit per minute.
    if (principal?.rate_limit) {
      const spec = { capacity: principal.rate_limit, perMinute: principal.rate_limit };
      const r = await take(`key:${principal.kind}:${principal.key_id ?? principal.owner_id}`, spec);
      if (r) {
        if (!r.allowed || r.remaining < Number(res.getHeader('RateLimit-Remaining') ?? Infinity)) setRateHeaders(res, spec.capacity, r);
        if (!r.allowed) throw new AppError('RATE_LIMITED', RATE_LIMITED, undefined, { 'Retry-After': String(r.retryAfterS) });
      }
    }

    req.forward = { route, requestId: req.requestId, principal, consumedCredential: !!source };
    prepareHeaders(req, req.forward, tokens);
    proxies.forward(route.service, req, res, next);
  };
  app.use(forward);

  const errors: ErrorRequestHandler = (err, req, res, _next) => {
    const family: ErrorFamily = res.locals.errorFamily ?? familyForPath(req.path);
    let code: ErrorCode = 'INTERNAL';
    let message = 'Internal server error';
    if (err instanceof AppError) {
      code = err.code;
      message = err.message;
      if (err.headers) for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
    } else {
      (req.log ?? logger).error({ err }, 'unhandled gateway error');
    }
    if (res.headersSent) return void res.destroy();
    res.status(new AppError(code, message).status).json(errorBody(family, code, message, req.requestId));
  };
  app.use(errors);
  return app;
}

export function upstreamsOf(config: GatewayConfig): Record<ServiceName, string[]> {
  const byName: Record<ServiceName, string[]> = {
    identity: config.IDENTITY_URL,
    wallets: config.WALLETS_URL,
    marketplace: config.MARKETPLACE_URL,
    metering: config.METERING_URL,
    reputation: config.REPUTATION_URL,
    settlements: config.SETTLEMENTS_URL,
    runtime: config.RUNTIME_URL,
    webhooks: config.WEBHOOKS_URL,
  };
  for (const s of SERVICE_NAMES) if (!byName[s]?.length) throw new Error(`no upstream configured for ${s}`);
  return byName;
}

export interface StartGatewayOptions {
  /** Standalone mode's shared bus; the gateway subscribes to it and never closes it. */
  inProcessBus?: InProcessBus;
  logger?: Logger;
  rateLimits?: RateLimitStore;
  identity?: IdentityClient;
  routes?: readonly RouteEntry[];
}

export interface RunningGateway extends RunningServer {
  app: Express;
  verifier: CredentialVerifier;
  rateLimits: RateLimitStore;
  bus: EventBus | null;
  /** The consumer group this replica reads `key.revoked` with. */
  group: string;
}

let instances = 0;

/** Builds and starts a gateway; fleet main.ts and standalone mode both come through here. */
export async function startGateway(config: GatewayConfig, opts: StartGatewayOptions = {}): Promise<RunningGateway> {
  const logger = opts.logger ?? createLogger('gateway', config.LOG_LEVEL);
  const identity = opts.identity ?? httpIdentityClient({ urls: config.IDENTITY_URL, secret: config.INTERNAL_TOKEN_SECRET, timeoutMs: config.VERIFY_TIMEOUT_MS });
  const verifier = new CredentialVerifier(identity, { ttlS: config.AUTH_CACHE_TTL_S });
  const rateLimits = opts.rateLimits ?? createRateLimitStore({ redisUrl: config.REDIS_URL, prefix: config.REDIS_KEY_PREFIX });
  const proxies = createServiceProxies({ upstreams: upstreamsOf(config), timeoutMs: config.PROXY_TIMEOUT_MS, logger });

  const bus = config.KAFKA_BROKERS.length || opts.inProcessBus ? createBus({ brokers: config.KAFKA_BROKERS, clientId: 'gateway', log: logger, inProcess: opts.inProcessBus }) : null;
  const ownsBus = !!bus && bus !== opts.inProcessBus;
  // Every replica must see every revocation, so each has its own consumer group.
  const n = instances++;
  const group = `gateway.${os.hostname()}.${process.pid}${n ? `.${n}` : ''}`;
  let stopped = false;
  const subscribing = bus
    ? (async () => {
        for (let attempt = 0; !stopped; attempt++) {
          try {
            await bus.subscribe({
              group,
              types: ['key.revoked'],
              handler: async (e) => {
                if (e.type === 'key.revoked') verifier.invalidateKey(e.data.key_id);
              },
            });
            return;
          } catch (err) {
            logger.warn({ err: String(err) }, 'cannot subscribe to key.revoked yet; retrying');
            await sleep(Math.min(5_000, 250 * 2 ** attempt));
          }
        }
      })()
    : Promise.resolve();
  if (!bus) logger.warn('no event bus configured: revoked keys stay valid at the gateway for up to AUTH_CACHE_TTL_S');
  if (bus?.kind === 'in-process') await subscribing;

  const app = createGateway({
    config,
    logger,
    verifier,
    rateLimits,
    proxies,
    routes: opts.routes ? new RouteTable(opts.routes) : undefined,
    readiness: bus ? [{ name: 'bus', check: () => bus.healthy() }] : [],
  });
  const server = await listen(app, {
    port: config.PORT,
    host: config.HOST,
    logger,
    onStop: async () => {
      stopped = true;
      if (ownsBus) await bus!.close();
      await Promise.race([subscribing, sleep(1_000)]);
      await rateLimits.close();
      proxies.close();
    },
  });
  logger.info({ url: server.url, bus: bus?.kind ?? 'none', rate_limits: rateLimits.kind }, 'gateway listening');
  return { ...server, app, verifier, rateLimits, bus, group };
}
