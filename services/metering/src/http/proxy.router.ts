import { Router, Response } from 'express';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { AppError, errorFamily, principalOf, requireRole } from '@platform/http';
import { REPLAY_MAX_BYTES, type Billing, type Metering, type Charge } from '../domain/metering.service';
import type { UpstreamPayments } from '../domain/upstream-payment';
import type { WalletsClient } from '../clients/wallets.client';
import type { UsageRow } from '../db/usage.repository';
import { CallerGone, Forwarder, ProviderTimeout } from '../upstream/forwarder';
import { forwardableRequestHeaders, forwardableResponseHeaders } from '../upstream/headers';
import { parseProxyUrl, upstreamPath } from '../upstream/target';
import { StageClock } from '../support/stage-clock';
import { agentOf, billingHeaders, idempotencyKeyOf, msSince, paymentHeadersOf, readBounded, stillUnsettled } from './paid-call';

export const PROXY_PREFIX = '/api/v1/proxy';
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
/** Request bodies up to this size are kept while they stream, so an x402 challenge can be answered by resending. */
const RESEND_MAX_BYTES = 1024 * 1024;
/** An x402 challenge is small; more than this is not one. */
const CHALLENGE_MAX_BYTES = 64 * 1024;

function replay(res: Response, r: UsageRow): void {
  res.writeHead(r.statusCode!, {
    ...((r.responseHeaders ?? {}) as OutgoingHttpHeaders),
    'content-length': String(r.responseBody!.length),
    ...billingHeaders(r.id, r.amountMicros, r.freeTier && r.paymentMethod === 'free_tier', r.latencyMs ?? 0),
    'X-ACF-Replayed': 'true',
  });
  res.end(Buffer.from(r.responseBody!));
}

/**
 * ANY /api/v1/proxy/{service_id}/{path} (spec 002 "Payment Proxy"). The body is never parsed:
 * it streams from the buyer to the provider and back. Everything that can refuse the call
 * (auth, service, target address, policy, balance or session) runs before anything is forwarded.
 *
 * Spec 001 headers work here too: X-Session-Id pays the price from that payment session
 * instead of the prepaid balance; X-Agent-Wallet applies that agent's policy and lets an x402
 * challenge from the provider be paid from the agent's wallet (once, then the call is sent again).
 */
export function proxyRouter(deps: { metering: Metering; forwarder: Forwarder; upstreamTimeoutMs: number; wallets: WalletsClient; payments: UpstreamPayments }): Router {
  const { metering, forwarder } = deps;
  const r = Router();

  r.use(PROXY_PREFIX, errorFamily('detail'), requireRole('buyer', 'provider', 'admin'), async (req, res) => {
    if (!METHODS.has(req.method)) {
      throw new AppError('METHOD_NOT_ALLOWED', `The proxy forwards GET, POST, PUT, PATCH and DELETE, not ${req.method}`, undefined, {
        Allow: 'GET, POST, PUT, PATCH, DELETE',
      });
    }
    const principal = principalOf(req);
    const clock = new StageClock();
    const target = parseProxyUrl(req.url);
    const { agent, sessionId } = paymentHeadersOf(req);
    const service = await metering.lookup(target.serviceId);
    const vetted = await forwarder.vet(service.endpoint);
    const { agentId, verdict } = await agentOf(deps.wallets, principal, { agent, service, sessionId, requestId: req.requestId });
    const idempotencyKey = idempotencyKeyOf(req);
    clock.lap('lookup');

    let callerGone = false;
    let onGone: () => void = () => undefined;
    res.on('close', () => {
      if (res.writableFinished) return;
      callerGone = true;
      onGone();
    });

    const started = await metering.begin(service, {
      buyerId: principal.owner_id,
      orgId: principal.org_id,
      method: req.method,
      path: `/${target.path ?? ''}`.slice(0, 2000),
      idempotencyKey,
      requestId: req.requestId,
      channel: 'proxy',
      sessionId,
      agentId,
      clock,
    });
    clock.lap('debit');
    if (started.kind === 'replay') return replay(res, started.record);
    const charge: Charge = started.charge;
    if (callerGone) return metering.abandon(charge);

    const send = (body: Readable, extra: Record<string, string> = {}) =>
      forwarder.send({
        target: vetted,
        method: req.method,
        path: upstreamPath(vetted.url, target.path, target.query),
        headers: { ...forwardableRequestHeaders(req.headers), ...extra },
        body,
      });

    // Only a call that can pay an x402 challenge keeps a copy of its body, to send it again.
    const kept = deps.payments.canPay(charge) ? keepBody(req) : null;
    const t0 = process.hrtime.bigint();
    // A resumed call (its x402 payment unanswered before) sends the body the client sent again now.
    const forwarding = send(req);
    onGone = () => forwarding.abort();

    let upstream: IncomingMessage;
    try {
      upstream = await forwarding.response;
      clock.lap('upstream');
    } catch (err) {
      const latencyMs = msSince(t0);
      const timeout = err instanceof ProviderTimeout;
      const detail = timeout ? 'Provider timeout' : 'Provider unreachable';
      // A resumed call's payment went out before: it stays unsettled, never refunded on a guess.
      if (charge.resumed) throw await stillUnsettled(metering, charge, { statusCode: timeout ? 504 : 502, latencyMs }, detail);
      if (err instanceof CallerGone) return metering.abandon(charge);
      await metering.fail(charge, { statusCode: timeout ? 504 : 502, latencyMs, detail });
      throw new AppError(timeout ? 'GATEWAY_TIMEOUT' : 'BAD_GATEWAY', detail, undefined, billingHeaders(charge.usageId, 0n, charge.freeTier, latencyMs));
    }

    let billing: Billing = { kind: 'price' };
    let reply: { status: number; upstream: IncomingMessage | null; headers: IncomingMessage['headers']; body: Buffer | null } = { status: upstream.statusCode ?? 502, upstream, headers: upstream.headers, body: null };
    if (reply.status === 402) {
      // The provider wants to be paid directly: the platform's price is not what it serves for.
      billing = { kind: 'waived' };
      const challengeBody = await readBounded(upstream, { maxBytes: CHALLENGE_MAX_BYTES, timeoutMs: deps.upstreamTimeoutMs }).catch(() => Buffer.alloc(0));
      reply = { status: 402, upstream: null, headers: upstream.headers, body: challengeBody };
      const body = kept?.whole();
      if (body && !callerGone) {
        const paid = await deps.payments.pay(charge, { status: 402, headers: upstream.headers, body: challengeBody }, {
          maxCostMicros: null,
          perCallMaxMicros: verdict?.perCallMaxMicros ?? charge.perCallMaxMicros ?? null,
          resend: async (h) => {
            const again = send(Readable.from(body.length ? [body] : []), { [h.name]: h.value, ...(body.length || req.headers['content-length'] ? { 'content-length': String(body.length) } : {}) });
            onGone = () => again.abort();
            const res2 = await again.response;
            return { status: res2.statusCode ?? 502, headers: res2.headers, body: null, upstream: res2 };
          },
        });
        if (paid.kind === 'refused') {
          await metering.refuse(charge);
          throw paid.error;
        }
        if (paid.kind === 'unsettled') {
          throw await stillUnsettled(metering, charge, { statusCode: paid.cause instanceof ProviderTimeout ? 504 : 502, latencyMs: msSince(t0) }, paid.detail);
        }
        if (paid.reply) reply = { status: paid.reply.status, upstream: paid.reply.upstream, headers: paid.reply.headers, body: null };
        if (paid.kind === 'paid') billing = { kind: 'x402', costMicros: paid.costMicros };
      }
    }

    const latencyMs = msSince(t0);
    const headers = forwardableResponseHeaders(reply.headers);
    try {
      await metering.complete(charge, { statusCode: reply.status, latencyMs, headers }, billing);
      clock.lap('complete');
    } catch (err) {
      reply.upstream?.destroy();
      req.log.error({ err, usage_id: charge.usageId }, 'cannot record a completed call');
      // A paid x402 call stays pending: the sweeper finds its settled payment and bills it.
      if (billing.kind !== 'x402') await metering.abandon(charge);
      throw new AppError('UNAVAILABLE', `The call could not be recorded; ${billing.kind === 'x402' ? 'it will be billed once, when it is' : 'you were not charged, try again'}`);
    }
    const amount = billing.kind === 'x402' ? billing.costMicros : billing.kind === 'waived' ? 0n : charge.amountMicros;
    const billed = { ...billingHeaders(charge.usageId, amount, charge.freeTier && billing.kind === 'price', latencyMs), 'Server-Timing': clock.header() };
    if (reply.body) {
      if (callerGone) return;
      res.writeHead(reply.status, { ...headers, 'content-length': String(reply.body.length), ...billed });
      res.end(reply.body);
      if (idempotencyKey) await metering.storeReplayBody(charge.usageId, reply.body).catch((err) => req.log.warn({ err: String(err) }, 'cannot keep the response for replays'));
      return;
    }
    const upstreamBody = reply.upstream!;
    if (callerGone) return void upstreamBody.destroy();
    onGone = () => upstreamBody.destroy();
    res.writeHead(reply.status, { ...headers, ...billed });
    streamBack(upstreamBody, res, {
      timeoutMs: deps.upstreamTimeoutMs,
      keep: idempotencyKey !== null,
      onKept: (body) => metering.storeReplayBody(charge.usageId, body).catch((err) => req.log.warn({ err: String(err) }, 'cannot keep the response for replays')),
    });
  });

  return r;
}

/** Copies the request body while it streams to the provider, up to RESEND_MAX_BYTES; `whole()` is null if it was larger or cut short. */
function keepBody(req: Readable & { readableEnded: boolean }) {
  let chunks: Buffer[] | null = [];
  let size = 0;
  let ended = false;
  req.on('data', (c: Buffer) => {
    if (!chunks) return;
    size += c.length;
    if (size > RESEND_MAX_BYTES) chunks = null;
    else chunks.push(c);
  });
  req.on('end', () => (ended = true));
  return { whole: () => (chunks && (ended || req.readableEnded) ? Buffer.concat(chunks) : null) };
}

/** The provider's body to the buyer; a provider that stalls mid-body is cut off after the same timeout as for its first byte. */
function streamBack(upstream: IncomingMessage, res: Response, o: { timeoutMs: number; keep: boolean; onKept(body: Buffer): unknown }): void {
  let idle: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(idle);
    idle = setTimeout(() => upstream.destroy(new Error('provider stalled mid-body')), o.timeoutMs);
    idle.unref();
  };
  touch();
  // Replays need the body; small ones are kept while they stream past.
  let kept: Buffer[] | null = o.keep ? [] : null;
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
    if (kept) o.onKept(Buffer.concat(kept));
  });
  upstream.on('error', () => {
    clearTimeout(idle);
    res.destroy();
  });
  upstream.pipe(res);
}
