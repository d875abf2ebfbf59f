import { Router, Request, Response } from 'express';
import type { OutgoingHttpHeaders } from 'node:http';
import { AppError, errorFamily, principalOf, requireRole } from '@platform/http';
import { formatUsd } from '@platform/money';
import { REPLAY_MAX_BYTES, type Metering, type Charge } from '../domain/metering.service';
import type { UsageRow } from '../db/usage.repository';
import { CallerGone, Forwarder, ProviderTimeout } from '../upstream/forwarder';
import { forwardableRequestHeaders, forwardableResponseHeaders } from '../upstream/headers';
import { parseProxyUrl, upstreamPath } from '../upstream/target';

export const PROXY_PREFIX = '/api/v1/proxy';
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Spec 002 billing headers; the amount is a decimal string, "0" for calls that cost nothing. */
function billingHeaders(usageId: string, amountMicros: bigint, freeTier: boolean, latencyMs: number): Record<string, string> {
  return {
    'X-ACF-Usage-Id': usageId,
    'X-ACF-Amount': amountMicros === 0n ? '0' : formatUsd(amountMicros),
    'X-ACF-Free-Tier': String(freeTier),
    'X-ACF-Latency-Ms': String(latencyMs),
  };
}

/** Idempotency-Key if given (it must be well formed), else the client's X-Request-ID. */
function idempotencyKeyOf(req: Request): string | null {
  const explicit = req.headers['idempotency-key'];
  if (explicit !== undefined) {
    if (typeof explicit !== 'string' || !IDEMPOTENCY_KEY.test(explicit)) {
      throw new AppError('BAD_REQUEST', 'Idempotency-Key must be 1 to 255 visible ASCII characters');
    }
    return explicit;
  }
  const rid = req.headers['x-request-id'];
  return typeof rid === 'string' && REQUEST_ID.test(rid) ? rid : null;
}

const msSince = (t0: bigint) => Math.round(Number(process.hrtime.bigint() - t0) / 1e6);

function replay(res: Response, r: UsageRow): void {
  res.writeHead(r.statusCode!, {
    ...((r.responseHeaders ?? {}) as OutgoingHttpHeaders),
    'content-length': String(r.responseBody!.length),
    ...billingHeaders(r.id, r.amountMicros, r.freeTier, r.latencyMs ?? 0),
    'X-ACF-Replayed': 'true',
  });
  res.end(Buffer.from(r.responseBody!));
}

/**
 * ANY /api/v1/proxy/{service_id}/{path} (spec 002 "Payment Proxy"). The body is never parsed:
 * it streams from the buyer to the provider and back. Everything that can refuse the call
 * (auth, service, target address, balance) runs before anything is forwarded.
 */
export function proxyRouter(deps: { metering: Metering; forwarder: Forwarder; upstreamTimeoutMs: number }): Router {
  const { metering, forwarder } = deps;
  const r = Router();

  r.use(PROXY_PREFIX, errorFamily('detail'), requireRole('buyer', 'provider', 'admin'), async (req, res) => {
    if (!METHODS.has(req.method)) {
      throw new AppError('METHOD_NOT_ALLOWED', `The proxy forwards GET, POST, PUT, PATCH and DELETE, not ${req.method}`, undefined, {
        Allow: 'GET, POST, PUT, PATCH, DELETE',
      });
    }
    const principal = principalOf(req);
    const target = parseProxyUrl(req.url);
    const service = await metering.lookup(target.serviceId);
    const vetted = await forwarder.vet(service.endpoint);
    const idempotencyKey = idempotencyKeyOf(req);

    let callerGone = false;
    let onGone: () => void = () => undefined;
    res.on('close', () => {
      if (res.writableFinished) return;
      callerGone = true;
      onGone();
    });

    const started = await metering.begin(service, {
      buyerId: principal.owner_id,
      method: req.method,
      path: `/${target.path ?? ''}`.slice(0, 2000),
      idempotencyKey,
      requestId: req.requestId,
    });
    if (started.kind === 'replay') return replay(res, started.record);
    const charge: Charge = started.charge;
    if (callerGone) return metering.abandon(charge);

    const t0 = process.hrtime.bigint();
    const forwarding = forwarder.send({
      target: vetted,
      method: req.method,
      path: upstreamPath(vetted.url, target.path, target.query),
      headers: forwardableRequestHeaders(req.headers),
      body: req,
    });
    onGone = () => forwarding.abort();

    let upstream;
    try {
      upstream = await forwarding.response;
    } catch (err) {
      const latencyMs = msSince(t0);
      if (err instanceof CallerGone) return metering.abandon(charge);
      const timeout = err instanceof ProviderTimeout;
      const detail = timeout ? 'Provider timeout' : 'Provider unreachable';
      await metering.fail(charge, { statusCode: timeout ? 504 : 502, latencyMs, detail });
      throw new AppError(timeout ? 'GATEWAY_TIMEOUT' : 'BAD_GATEWAY', detail, undefined, billingHeaders(charge.usageId, 0n, charge.freeTier, latencyMs));
    }

    const latencyMs = msSince(t0);
    const status = upstream.statusCode ?? 502;
    const headers = forwardableResponseHeaders(upstream.headers);
    try {
      await metering.complete(charge, { statusCode: status, latencyMs, headers });
    } catch (err) {
      upstream.destroy();
      req.log.error({ err, usage_id: charge.usageId }, 'cannot record a completed call; refunding it');
      await metering.abandon(charge);
      throw new AppError('UNAVAILABLE', 'The call could not be recorded; you were not charged, try again');
    }
    if (callerGone) return void upstream.destroy();
    onGone = () => upstream.destroy();

    res.writeHead(status, { ...headers, ...billingHeaders(charge.usageId, charge.amountMicros, charge.freeTier, latencyMs) });

    // A provider that stalls mid-body is cut off after the same timeout as for its first byte.
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => upstream.destroy(new Error('provider stalled mid-body')), deps.upstreamTimeoutMs);
      idle.unref();
    };
    touch();
    // Replays need the body; small ones are kept while they stream past.
    let kept: Buffer[] | null = idempotencyKey ? [] : null;
    let size = 0;
    upstream.on('data', (chunk: Buffer) => {
      touch();
      if (!kept) return;
      size += chunk.length;
      if (size > REPLAY_MAX_BYTES) kept = null;
      else kept.push(chunk);
    });
    upstream.on('end', () => {
      clearTimeout(idle);
      if (kept) {
        metering.storeReplayBody(charge.usageId, Buffer.concat(kept)).catch((err) => req.log.warn({ err: String(err) }, 'cannot keep the response for replays'));
      }
    });
    upstream.on('error', () => {
      clearTimeout(idle);
      res.destroy();
    });
    upstream.pipe(res);
  });

  return r;
}
