import http from 'node:http';
import { verifyPrincipal, INTERNAL_PRINCIPAL_HEADER } from '@platform/auth';
import { TEST_SECRET } from '@platform/testing';

/**
 * TEST DOUBLE — a stand-in for the wallets service's internal API, as /tmp/CONTRACTS.md
 * "Wallets <-> metering" specifies it, so metering's suites do not depend on wallets being
 * finished. The fleet's e2e tests run metering against the real wallets service.
 *
 *   POST /internal/debits  {usage_id, buyer_id, amount_micros, provider_id, service_id}
 *        200 {usage_id, debited_micros, balance_micros, duplicate}  (replay by usage_id: first result, duplicate true)
 *        402 {detail: "Insufficient balance: ..."}                   (nothing changes)
 *   POST /internal/debits/batch {debits: [<debit>, …]} -> 200 {results: [{status, body}, …]}, each as /internal/debits answers it
 *   POST /internal/refunds {usage_id} -> 200 {usage_id, refunded_micros, balance_micros} (idempotent), 404 if no such debit
 *   GET  /internal/balances/:owner_id -> {owner_id, balance_micros}
 *   POST /internal/sessions/:id/debits {usage_id, amount_micros, service_id, provider_id, owner_id}
 *        200 {usage_id, session_id, debited_micros, remaining_micros, used_micros, call_count, duplicate}
 *        402 {detail, errors: {reason: "insufficient_session_balance"}}, 404 unknown session
 *   POST /internal/sessions/:id/refunds {usage_id}  (the contract metering asks wallets for)
 *        200 {usage_id, session_id, refunded_micros, remaining_micros, duplicate}; 404 {errors: {reason: "no_debit"}}
 *        With `sessionRefunds = false` it answers like a wallets without the route: 404 and no reason.
 *   POST /internal/agents/authorize {owner_id, agent, ...} -> allowed for agents added with addAgent, else 404
 * Only service tokens (kind "internal") are accepted, as requireService does.
 */
export interface WalletsStandIn {
  url: string;
  fund(ownerId: string, micros: bigint): void;
  balance(ownerId: string): bigint;
  debits: Map<string, { buyerId: string; amount: bigint; refunded: boolean }>;
  /** Every request received, in order. */
  calls: { method: string; path: string; body: Record<string, unknown> }[];
  /** "debit-then-500": take the next debit, then answer 500 (a wallets crash after committing). */
  failNextDebit: 'no' | 'debit-then-500';
  /** Sessions by id: what is left and what was debited per usage id. */
  sessions: Map<string, { ownerId: string; remaining: bigint; debits: Map<string, { amount: bigint; refunded: boolean }> }>;
  openSession(id: string, ownerId: string, micros: bigint): void;
  /** false: POST /internal/sessions/:id/refunds does not exist (a wallets from before that contract). */
  sessionRefunds: boolean;
  /** Agent wallets authorize knows: id or name → agent id (allowed, no policy). */
  addAgent(ref: string, agentId: string): void;
  close(): Promise<void>;
}

export async function startWalletsStandIn(secret = TEST_SECRET): Promise<WalletsStandIn> {
  const balances = new Map<string, bigint>();
  const debits: WalletsStandIn['debits'] = new Map();
  const calls: WalletsStandIn['calls'] = [];
  const balanceOf = (id: string) => balances.get(id) ?? 0n;
  const sessions: WalletsStandIn['sessions'] = new Map();
  const agents = new Map<string, string>();
  const self = { failNextDebit: 'no', sessionRefunds: true } as WalletsStandIn;

  function debitOne(body: Record<string, unknown>): { status: number; body: unknown } {
    const { usage_id, buyer_id, amount_micros } = body as Record<string, string>;
    if (!usage_id || !buyer_id || !/^\d+$/.test(String(amount_micros ?? ''))) return { status: 400, body: { detail: 'usage_id, buyer_id and amount_micros are required' } };
    const prior = debits.get(usage_id);
    if (prior) {
      return { status: 200, body: { usage_id, debited_micros: prior.amount.toString(), balance_micros: balanceOf(prior.buyerId).toString(), duplicate: true } };
    }
    const amount = BigInt(amount_micros);
    const has = balanceOf(buyer_id);
    if (has < amount) return { status: 402, body: { detail: `Insufficient balance: ${buyer_id} has ${has} micro-USDC, the call costs ${amount}` } };
    balances.set(buyer_id, has - amount);
    debits.set(usage_id, { buyerId: buyer_id, amount, refunded: false });
    if (self.failNextDebit === 'debit-then-500') {
      self.failNextDebit = 'no';
      return { status: 500, body: { detail: 'Internal server error' } };
    }
    return { status: 200, body: { usage_id, debited_micros: amount.toString(), balance_micros: balanceOf(buyer_id).toString(), duplicate: false } };
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const token = req.headers[INTERNAL_PRINCIPAL_HEADER];
      const principal = typeof token === 'string' ? verifyPrincipal(token, secret) : null;
      if (principal?.kind !== 'internal') return send(403, { detail: 'internal route' });
      let body: Record<string, unknown> = {};
      try {
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
      } catch {
        return send(400, { detail: 'Request body is not valid JSON' });
      }
      const path = req.url ?? '';
      calls.push({ method: req.method ?? '', path, body });

      if (req.method === 'POST' && path === '/internal/debits') {
        const r = debitOne(body);
        return send(r.status, r.body);
      }
      // Metering's batch: each item answered as /internal/debits would, recorded as one call each.
      if (req.method === 'POST' && path === '/internal/debits/batch') {
        calls.pop();
        const items = Array.isArray(body.debits) ? (body.debits as Record<string, unknown>[]) : [];
        if (!items.length) return send(400, { detail: 'debits must hold at least one debit' });
        return send(200, {
          results: items.map((item) => {
            calls.push({ method: 'POST', path: '/internal/debits', body: item });
            return debitOne(item);
          }),
        });
      }

      if (req.method === 'POST' && path === '/internal/refunds') {
        const usageId = String(body.usage_id ?? '');
        const d = debits.get(usageId);
        if (!d) return send(404, { detail: 'No such debit' });
        if (!d.refunded) {
          d.refunded = true;
          balances.set(d.buyerId, balanceOf(d.buyerId) + d.amount);
        }
        return send(200, { usage_id: usageId, refunded_micros: d.amount.toString(), balance_micros: balanceOf(d.buyerId).toString() });
      }

      const debit = /^\/internal\/sessions\/([^/]+)\/(debits|refunds)$/.exec(path);
      if (req.method === 'POST' && debit) {
        const session = sessions.get(decodeURIComponent(debit[1]));
        const usageId = String(body.usage_id ?? '');
        if (debit[2] === 'refunds') {
          if (!self.sessionRefunds) return send(404, { detail: `No route for POST ${path}` });
          const d = session?.debits.get(usageId);
          if (!session || !d) return send(404, { detail: 'No session debit for this usage_id', errors: { reason: 'no_debit' } });
          const duplicate = d.refunded;
          if (!d.refunded) {
            d.refunded = true;
            session.remaining += d.amount;
          }
          return send(200, { usage_id: usageId, session_id: debit[1], refunded_micros: d.amount.toString(), remaining_micros: session.remaining.toString(), duplicate });
        }
        if (!session || session.ownerId !== body.owner_id) return send(404, { detail: 'Session not found', errors: { reason: 'session_not_found' } });
        const amount = BigInt(String(body.amount_micros));
        const prior = session.debits.get(usageId);
        if (!prior) {
          if (session.remaining < amount) return send(402, { detail: `Insufficient budget: the session has ${session.remaining} micro-USDC left`, errors: { reason: 'insufficient_session_balance' } });
          session.remaining -= amount;
          session.debits.set(usageId, { amount, refunded: false });
        }
        return send(200, {
          usage_id: usageId,
          session_id: debit[1],
          debited_micros: amount.toString(),
          remaining_micros: session.remaining.toString(),
          used_micros: '0',
          call_count: session.debits.size,
          duplicate: Boolean(prior),
        });
      }

      if (req.method === 'POST' && path === '/internal/agents/authorize') {
        const agentId = agents.get(String(body.agent));
        if (!agentId) return send(404, { detail: 'Agent wallet not found' });
        const session = body.session_id ? sessions.get(String(body.session_id)) : undefined;
        return send(200, {
          allowed: true,
          code: 'ok',
          reason: null,
          agent_id: agentId,
          agent_name: String(body.agent),
          wallet_address: '0x0000000000000000000000000000000000000001',
          department_id: null,
          policy: { per_call_max: null, daily_limit: null, monthly_limit: null, spending_cap: null, require_session: false },
          session: session ? { id: String(body.session_id), remaining_micros: session.remaining.toString() } : null,
          usdc_balance: null,
        });
      }

      const m = /^\/internal\/balances\/([^/]+)$/.exec(path);
      if (req.method === 'GET' && m) {
        const owner = decodeURIComponent(m[1]);
        return send(200, { owner_id: owner, balance_micros: balanceOf(owner).toString() });
      }
      send(404, { detail: `No route for ${req.method} ${path}` });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return Object.assign(self, {
    url: `http://127.0.0.1:${port}`,
    fund: (ownerId: string, micros: bigint) => void balances.set(ownerId, balanceOf(ownerId) + micros),
    balance: balanceOf,
    debits,
    calls,
    sessions,
    openSession: (id: string, ownerId: string, micros: bigint) => void sessions.set(id, { ownerId, remaining: micros, debits: new Map() }),
    addAgent: (ref: string, agentId: string) => void agents.set(ref, agentId),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}
