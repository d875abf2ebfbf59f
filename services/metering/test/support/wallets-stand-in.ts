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
 *   POST /internal/refunds {usage_id} -> 200 {usage_id, refunded_micros, balance_micros} (idempotent), 404 if no such debit
 *   GET  /internal/balances/:owner_id -> {owner_id, balance_micros}
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
  close(): Promise<void>;
}

export async function startWalletsStandIn(secret = TEST_SECRET): Promise<WalletsStandIn> {
  const balances = new Map<string, bigint>();
  const debits: WalletsStandIn['debits'] = new Map();
  const calls: WalletsStandIn['calls'] = [];
  const balanceOf = (id: string) => balances.get(id) ?? 0n;
  const self = { failNextDebit: 'no' } as WalletsStandIn;

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
        const { usage_id, buyer_id, amount_micros } = body as Record<string, string>;
        if (!usage_id || !buyer_id || !/^\d+$/.test(String(amount_micros ?? ''))) return send(400, { detail: 'usage_id, buyer_id and amount_micros are required' });
        const prior = debits.get(usage_id);
        if (prior) {
          return send(200, { usage_id, debited_micros: prior.amount.toString(), balance_micros: balanceOf(prior.buyerId).toString(), duplicate: true });
        }
        const amount = BigInt(amount_micros);
        const has = balanceOf(buyer_id);
        if (has < amount) return send(402, { detail: `Insufficient balance: ${buyer_id} has ${has} micro-USDC, the call costs ${amount}` });
        balances.set(buyer_id, has - amount);
        debits.set(usage_id, { buyerId: buyer_id, amount, refunded: false });
        if (self.failNextDebit === 'debit-then-500') {
          self.failNextDebit = 'no';
          return send(500, { detail: 'Internal server error' });
        }
        return send(200, { usage_id, debited_micros: amount.toString(), balance_micros: balanceOf(buyer_id).toString(), duplicate: false });
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
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}
