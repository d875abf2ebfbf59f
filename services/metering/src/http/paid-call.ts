import { Readable } from 'node:stream';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Request } from 'express';
import { AppError, CheckedTarget, ErrorCode } from '@platform/http';
import { formatUsd } from '@platform/money';
import { CLIENT_REQUEST_ID_HEADER, Principal } from '@platform/auth';
import type { AgentVerdict, WalletsClient } from '../clients/wallets.client';
import { WalletsUnavailable } from '../clients/wallets.client';
import type { Billing, Charge, Metering, PaymentMethod, PricedService } from '../domain/metering.service';
import type { UpstreamPayments } from '../domain/upstream-payment';
import type { HttpReply } from '../domain/x402.protocol';
import { CallerGone, Forwarder, ProviderTimeout } from '../upstream/forwarder';
import { forwardableResponseHeaders } from '../upstream/headers';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const HEADER_ID = /^[\x21-\x7e]{1,200}$/;

/** Spec 002 billing headers; the amount is a decimal string, "0" for calls that cost nothing. */
export function billingHeaders(usageId: string, amountMicros: bigint, freeTier: boolean, latencyMs: number): Record<string, string> {
  return {
    'X-ACF-Usage-Id': usageId,
    'X-ACF-Amount': amountMicros === 0n ? '0' : formatUsd(amountMicros),
    'X-ACF-Free-Tier': String(freeTier),
    'X-ACF-Latency-Ms': String(latencyMs),
  };
}

/**
 * Idempotency-Key if given (it must be well formed), else the X-Request-ID the client itself
 * sent, which the gateway passes as X-Client-Request-ID. X-Request-ID alone is not a key: the
 * gateway makes one up for every request that has none.
 */
export function idempotencyKeyOf(req: Request): string | null {
  const explicit = req.headers['idempotency-key'];
  if (explicit !== undefined) {
    if (typeof explicit !== 'string' || !IDEMPOTENCY_KEY.test(explicit)) {
      throw new AppError('BAD_REQUEST', 'Idempotency-Key must be 1 to 255 visible ASCII characters');
    }
    return explicit;
  }
  const rid = req.headers[CLIENT_REQUEST_ID_HEADER];
  return typeof rid === 'string' && REQUEST_ID.test(rid) ? rid : null;
}

/** X-Agent-Wallet (an agent id, name or slug) and X-Session-Id, as spec 001 sends them. */
export function paymentHeadersOf(req: Request): { agent: string | null; sessionId: string | null } {
  const read = (name: string, label: string) => {
    const v = req.headers[name];
    if (v === undefined) return null;
    const s = typeof v === 'string' ? v.trim() : '';
    if (!HEADER_ID.test(s)) throw new AppError('BAD_REQUEST', `${label} must be 1 to 200 visible ASCII characters`);
    return s;
  };
  return { agent: read('x-agent-wallet', 'X-Agent-Wallet'), sessionId: read('x-session-id', 'X-Session-Id') };
}

/** wallets' authorize codes → spec 001 statuses: budget 402, not allowed 403, unknown session 404, closed/expired session 409. */
const POLICY_CODE: Record<string, ErrorCode> = {
  per_call_max: 'PAYMENT_REQUIRED',
  spending_cap: 'PAYMENT_REQUIRED',
  daily_limit: 'PAYMENT_REQUIRED',
  monthly_limit: 'PAYMENT_REQUIRED',
  insufficient_session_balance: 'PAYMENT_REQUIRED',
  insufficient_balance: 'PAYMENT_REQUIRED',
  service_blocked: 'FORBIDDEN',
  service_not_allowed: 'FORBIDDEN',
  session_required: 'FORBIDDEN',
  agent_inactive: 'FORBIDDEN',
  session_not_found: 'NOT_FOUND',
  session_not_open: 'CONFLICT',
};

/**
 * The agent's policy for this call (wallets `POST /internal/agents/authorize`, read-only):
 * allowed/blocked services, require_session, per-call max, and the spending cap and daily and
 * monthly limits against what it has spent. Refusals become spec 001 errors; nothing is
 * recorded or charged before this passes.
 */
export async function authorizeAgent(
  wallets: WalletsClient,
  principal: Principal,
  q: { agent: string; service: string; amountMicros: bigint; sessionId: string | null; requestId: string },
): Promise<AgentVerdict> {
  let r;
  try {
    r = await wallets.authorize(
      { ownerId: principal.owner_id, orgId: principal.org_id, agent: q.agent, service: q.service, amountMicros: q.amountMicros > 0n ? q.amountMicros : null, sessionId: q.sessionId },
      q.requestId,
    );
  } catch (err) {
    if (err instanceof WalletsUnavailable) throw new AppError('UNAVAILABLE', 'Payment service is unavailable; you were not charged, try again');
    throw err;
  }
  if (r.kind === 'not_found') throw new AppError('NOT_FOUND', r.detail);
  const v = r.verdict;
  // Without a session the price comes from the prepaid balance, so the wallet's on-chain
  // balance (what insufficient_balance is about) does not limit it; the policy checks before it passed.
  if (!v.allowed && !(v.code === 'insufficient_balance' && !q.sessionId)) {
    throw new AppError(POLICY_CODE[v.code] ?? 'FORBIDDEN', v.reason ?? `Not allowed by this agent's policy (${v.code})`, { reason: v.code });
  }
  return v;
}

const AGENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The agent a call is made for, and its verdict when one is needed before anything is recorded.
 * A session-paid call to a priced registered service with no free tier, whose X-Agent-Wallet is
 * an agent id, asks nothing first: its session debit checks in one statement everything
 * authorize would (the session is this agent's and the caller's, open, funded; the agent active;
 * its service lists, per-call max and spend limits), and a refusal there leaves the record
 * `refused` with nothing charged. A name still needs authorize to find the agent.
 */
export async function agentOf(
  wallets: WalletsClient,
  principal: Principal,
  q: { agent: string | null; service: Pick<PricedService, 'policyName' | 'priceMicros' | 'freeTierCalls' | 'registered'>; sessionId: string | null; requestId: string },
): Promise<{ agentId: string | null; verdict: AgentVerdict | null }> {
  if (!q.agent) return { agentId: null, verdict: null };
  if (q.sessionId && q.service.registered && q.service.priceMicros > 0n && q.service.freeTierCalls === 0 && AGENT_ID.test(q.agent)) {
    return { agentId: q.agent.toLowerCase(), verdict: null };
  }
  const verdict = await authorizeAgent(wallets, principal, { agent: q.agent, service: q.service.policyName, amountMicros: q.service.priceMicros, sessionId: q.sessionId, requestId: q.requestId });
  return { agentId: verdict.agentId, verdict };
}

export const msSince = (t0: bigint) => Math.round(Number(process.hrtime.bigint() - t0) / 1e6);

export class ResponseTooLarge extends Error {}

export interface Exchanged extends HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** One buffered request/response with the provider: at most `maxBytes` back, no stall longer than `timeoutMs`. */
export async function exchange(
  forwarder: Forwarder,
  f: { target: CheckedTarget; method: string; path: string; headers: OutgoingHttpHeaders; body: Buffer },
  limits: { maxBytes: number; timeoutMs: number },
): Promise<Exchanged> {
  const hasBody = f.body.length > 0 || !['GET', 'HEAD', 'DELETE'].includes(f.method);
  const forwarding = forwarder.send({
    target: f.target,
    method: f.method,
    path: f.path,
    headers: { ...f.headers, ...(hasBody ? { 'content-length': String(f.body.length) } : {}) },
    body: Readable.from(f.body.length ? [f.body] : []),
  });
  const res = await forwarding.response;
  const body = await readBounded(res, limits);
  return { status: res.statusCode ?? 502, headers: res.headers, body };
}

export function readBounded(res: IncomingMessage, limits: { maxBytes: number; timeoutMs: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => res.destroy(new ProviderTimeout(`provider stalled for ${limits.timeoutMs} ms mid-body`)), limits.timeoutMs);
      idle.unref();
    };
    touch();
    res.on('data', (c: Buffer) => {
      touch();
      size += c.length;
      if (size > limits.maxBytes) return res.destroy(new ResponseTooLarge(`the provider's response is larger than ${limits.maxBytes} bytes`));
      chunks.push(c);
    });
    res.on('end', () => {
      clearTimeout(idle);
      resolve(Buffer.concat(chunks));
    });
    res.on('error', (err) => {
      clearTimeout(idle);
      reject(err instanceof ProviderTimeout || err instanceof ResponseTooLarge ? err : new ProviderTimeout(err.message));
    });
  });
}

export interface BufferedResult {
  statusCode: number;
  headers: OutgoingHttpHeaders;
  body: Buffer;
  latencyMs: number;
  amountMicros: bigint;
  paymentMethod: PaymentMethod;
  freeTier: boolean;
}

/**
 * Forwards a charged call whose answer the caller gets inside JSON (spec 001 external fetch,
 * `/services/{slug}`): sends it, pays an x402 challenge from the agent wallet and sends it
 * again once, then records the outcome. Throws the spec 001 error when the call ends unserved.
 */
export async function runBufferedCall(
  deps: { metering: Metering; forwarder: Forwarder; payments: UpstreamPayments; maxBytes: number; timeoutMs: number },
  charge: Charge,
  call: { target: CheckedTarget; method: string; path: string; headers: OutgoingHttpHeaders; body: Buffer; maxCostMicros: bigint | null; perCallMaxMicros: bigint | null; keepForReplay: boolean },
): Promise<BufferedResult> {
  const { metering } = deps;
  const limits = { maxBytes: deps.maxBytes, timeoutMs: deps.timeoutMs };
  const t0 = process.hrtime.bigint();
  const send = (extra: Record<string, string> = {}) => exchange(deps.forwarder, { ...call, headers: { ...call.headers, ...extra } }, limits);

  let reply: Exchanged;
  try {
    reply = await send();
  } catch (err) {
    const latencyMs = msSince(t0);
    const timeout = err instanceof ProviderTimeout;
    // A resumed call's payment went out before: it stays unsettled, never refunded on a guess.
    if (charge.resumed) throw await stillUnsettled(metering, charge, { statusCode: timeout ? 504 : 502, latencyMs }, timeout ? 'Provider timeout' : 'Provider unreachable');
    if (err instanceof CallerGone) {
      await metering.abandon(charge);
      throw new AppError('BAD_REQUEST', 'The request was aborted');
    }
    const detail = err instanceof ResponseTooLarge ? `Provider response too large: ${err.message}` : timeout ? 'Provider timeout' : 'Provider unreachable';
    await metering.fail(charge, { statusCode: timeout ? 504 : 502, latencyMs, detail });
    throw new AppError(timeout ? 'GATEWAY_TIMEOUT' : 'BAD_GATEWAY', detail, undefined, billingHeaders(charge.usageId, 0n, charge.freeTier, latencyMs));
  }

  let billing: Billing = { kind: 'price' };
  if (reply.status === 402) {
    billing = { kind: 'waived' };
    if (deps.payments.canPay(charge)) {
      const paid = await deps.payments.pay(charge, reply, { maxCostMicros: call.maxCostMicros, perCallMaxMicros: call.perCallMaxMicros, resend: (h) => send({ [h.name]: h.value }) });
      if (paid.kind === 'refused') {
        await metering.refuse(charge);
        throw paid.error;
      }
      if (paid.kind === 'unsettled') {
        throw await stillUnsettled(metering, charge, { statusCode: paid.cause instanceof ProviderTimeout ? 504 : 502, latencyMs: msSince(t0) }, paid.detail);
      }
      reply = paid.reply ?? reply;
      if (paid.kind === 'paid') billing = { kind: 'x402', costMicros: paid.costMicros };
    }
  }

  const latencyMs = msSince(t0);
  const headers = forwardableResponseHeaders(reply.headers);
  try {
    await metering.complete(charge, { statusCode: reply.status, latencyMs, headers }, billing);
  } catch (err) {
    // A paid x402 call stays pending: the sweeper finds its settled payment and bills it.
    if (billing.kind !== 'x402') await metering.abandon(charge);
    throw new AppError('UNAVAILABLE', `The call could not be recorded; ${billing.kind === 'x402' ? 'it will be billed once, when it is' : 'you were not charged, try again'}`);
  }
  if (call.keepForReplay) await metering.storeReplayBody(charge.usageId, reply.body).catch(() => undefined);
  const amountMicros = billing.kind === 'x402' ? billing.costMicros : billing.kind === 'waived' ? 0n : charge.amountMicros;
  const paymentMethod: PaymentMethod = billing.kind === 'x402' ? 'x402' : billing.kind === 'waived' ? 'none' : charge.chargeMethod;
  return { statusCode: reply.status, headers, body: reply.body, latencyMs, amountMicros, paymentMethod, freeTier: charge.freeTier && billing.kind === 'price' };
}

/**
 * The call's x402 payment went out and its outcome is unknown: the record stays `unsettled`
 * (charge and key kept) and the caller is told how to resume it. Answers the error to throw.
 */
export async function stillUnsettled(metering: Metering, charge: Charge, o: { statusCode: number; latencyMs: number }, detail: string): Promise<AppError> {
  await metering.unsettle(charge, o);
  return new AppError(
    o.statusCode === 504 ? 'GATEWAY_TIMEOUT' : 'BAD_GATEWAY',
    `${detail}; retry with the same Idempotency-Key (or X-Request-ID) to resume this call without paying twice`,
    { usage_id: charge.usageId },
    billingHeaders(charge.usageId, 0n, false, o.latencyMs),
  );
}

/** An upstream body for JSON: parsed when it is JSON, else text (spec 001 `body`). */
export function bodyForJson(headers: OutgoingHttpHeaders, body: Buffer): unknown {
  if (!body.length) return null;
  const text = body.toString('utf8');
  const type = String(headers['content-type'] ?? '');
  if (/json/i.test(type) || /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}
