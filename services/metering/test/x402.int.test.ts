import { randomBytes, randomUUID } from 'node:crypto';
import { Wallet } from 'ethers';
import { TEST_SECRET } from '@platform/testing';
import { startMetering, Metering } from './support/harness';
import { startSignerStandIn, startX402Upstream, Chain } from './support/x402-stand-ins';
import { createX402Payer, PaymentPolicy } from '../src/domain/x402.service';
import { x402PaymentsRepository } from '../src/db/x402-payments.repository';
import { walletsSignerClient } from '../src/clients/signer.client';
import type { HttpReply } from '../src/domain/x402.protocol';

/**
 * The x402 client core against a local x402-protected API that verifies real EIP-712
 * signatures, with payments kept in metering's real x402_payments table. The signer is a
 * stand-in for wallets' signing route; the calls through the gateway, with the real wallets and
 * an on-chain facilitator, are in e2e/api/spec001-external-fetch.int.test.ts.
 */
const chain: Chain = { chainId: 84532, network: 'base-sepolia', usdc: '0x036CbD53842c5426634e7929541eC2318f3dCF7e' };
const PAY_TO = Wallet.createRandom().address;

async function get(url: string, headers: Record<string, string> = {}, timeoutMs = 5_000): Promise<HttpReply> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: Buffer.from(await res.arrayBuffer()) };
}

describe('x402 client core against a local x402 API', () => {
  let m: Metering;
  const agent = Wallet.createRandom();
  const agents = new Map([['agent-x402', agent]]);
  let signer: Awaited<ReturnType<typeof startSignerStandIn>>;
  const policyCalls: bigint[] = [];
  const policy: PaymentPolicy = {
    check: async (q) => (policyCalls.push(q.amountMicros), q.amountMicros <= 100_000n ? { allowed: true } : { allowed: false, reason: 'Over the per-call max of $0.10' }),
  };

  beforeAll(async () => {
    m = await startMetering();
    signer = await startSignerStandIn(chain, agents);
  });
  afterAll(async () => {
    await signer.close();
    await m.stop();
  });

  const payer = () =>
    createX402Payer({
      store: x402PaymentsRepository(m.svc.db),
      signer: walletsSignerClient({ baseUrl: signer.url, secret: TEST_SECRET, timeoutMs: 2_000 }),
      policy,
      settings: { network: chain.network, chainId: chain.chainId, asset: chain.usdc },
      now: () => Date.now(),
      nonce: () => `0x${randomBytes(32).toString('hex')}`,
    });

  it.each([1, 2] as const)('pays a version %i challenge with a verified signature and records the settlement', async (version) => {
    const up = await startX402Upstream({ chain, version, priceMicros: 30_000n, payTo: PAY_TO });
    try {
      const usageId = randomUUID();
      const challenge = await get(`${up.url}/data`);
      expect(challenge.status).toBe(402);
      const r = await payer().pay({ usageId, agentId: 'agent-x402', service: 'premium-data', maxCostMicros: 50_000n, challenge, resend: (h) => get(`${up.url}/data`, { [h.name]: h.value }) });

      expect(r.kind).toBe('paid');
      if (r.kind !== 'paid') return;
      expect(r.costMicros).toBe(30_000n);
      expect(r.reply.status).toBe(200);
      expect(JSON.parse(r.reply.body!.toString())).toEqual({ data: 'premium', paid_by: agent.address });
      expect(r.settlement).toMatchObject({ success: true, payer: agent.address });
      expect(up.used.size).toBe(1);
      const row = await m.svc.db.x402Payment.findUniqueOrThrow({ where: { usageId } });
      expect(row).toMatchObject({
        status: 'settled',
        x402Version: version,
        amountMicros: 30_000n,
        payTo: PAY_TO,
        payer: agent.address,
        transaction: r.settlement!.transaction,
        headerName: version === 1 ? 'x-payment' : 'payment-signature',
      });
      expect(signer.calls.at(-1)).toEqual({
        agentId: 'agent-x402',
        body: { to: PAY_TO, value: '30000', valid_after: row.validAfter.toString(), valid_before: row.validBefore.toString(), nonce: row.nonce, usage_id: usageId, service: 'premium-data' },
      });
    } finally {
      await up.close();
    }
  });

  it('a settlement that times out is never paid twice: the retry resends the same authorization', async () => {
    const up = await startX402Upstream({ chain, version: 1, priceMicros: 20_000n, payTo: PAY_TO, slowFirstPaidMs: 1_500 });
    try {
      const usageId = randomUUID();
      const signedBefore = signer.calls.length;
      const x = createX402Payer({
        store: x402PaymentsRepository(m.svc.db),
        signer: walletsSignerClient({ baseUrl: signer.url, secret: TEST_SECRET, timeoutMs: 2_000 }),
        policy,
        settings: { network: chain.network, chainId: chain.chainId, asset: chain.usdc },
        now: () => Date.now(),
        nonce: () => `0x${randomBytes(32).toString('hex')}`,
        // The upstream's used nonces stand for USDC's authorizationState on chain.
        authorizations: { isUsed: async (_payer, nonce) => up.used.has(nonce.toLowerCase()) },
      });
      const attempt = async () => x.pay({ usageId, agentId: 'agent-x402', service: null, maxCostMicros: null, challenge: await get(`${up.url}/data`), resend: (h) => get(`${up.url}/data`, { [h.name]: h.value }, 300) });

      await expect(attempt()).rejects.toThrow();
      const afterTimeout = await m.svc.db.x402Payment.findUniqueOrThrow({ where: { usageId } });
      expect(afterTimeout.status).toBe('signed');
      // The first attempt settled although its reply never arrived.
      expect(up.used.size).toBe(1);

      const second = await attempt();
      expect(second).toMatchObject({ kind: 'paid', costMicros: 20_000n });
      const payments = up.seen.filter((s) => s.headers['x-payment']).map((s) => s.headers['x-payment']);
      expect(payments).toHaveLength(2);
      expect(payments[1]).toBe(payments[0]);
      expect(up.used.size).toBe(1);
      expect(signer.calls.length - signedBefore).toBe(1);
      expect((await m.svc.db.x402Payment.findUniqueOrThrow({ where: { usageId } })).status).toBe('settled');
    } finally {
      await up.close();
    }
  });

  it('refuses over max_cost and by policy without reserving, signing or paying', async () => {
    const up = await startX402Upstream({ chain, version: 2, priceMicros: 150_000n, payTo: PAY_TO });
    try {
      const signedBefore = signer.calls.length;
      const overMax = randomUUID();
      const byPolicy = randomUUID();
      const resend = (h: { name: string; value: string }) => get(`${up.url}/data`, { [h.name]: h.value });
      await expect(payer().pay({ usageId: overMax, agentId: 'agent-x402', service: null, maxCostMicros: 100_000n, challenge: await get(`${up.url}/data`), resend })).rejects.toMatchObject({ code: 'over_max_cost' });
      await expect(payer().pay({ usageId: byPolicy, agentId: 'agent-x402', service: null, maxCostMicros: null, challenge: await get(`${up.url}/data`), resend })).rejects.toMatchObject({
        code: 'policy_refused',
        message: 'Over the per-call max of $0.10',
      });
      expect(await m.svc.db.x402Payment.count({ where: { usageId: { in: [overMax, byPolicy] } } })).toBe(0);
      expect(signer.calls.length).toBe(signedBefore);
      expect(up.used.size).toBe(0);
    } finally {
      await up.close();
    }
  });

  it('an agent without a wallet leaves a reservation, no signature and no payment', async () => {
    const up = await startX402Upstream({ chain, version: 1, priceMicros: 10_000n, payTo: PAY_TO });
    try {
      const usageId = randomUUID();
      await expect(
        payer().pay({ usageId, agentId: 'agent-unknown', service: null, maxCostMicros: null, challenge: await get(`${up.url}/data`), resend: (h) => get(`${up.url}/data`, { [h.name]: h.value }) }),
      ).rejects.toMatchObject({ code: 'signer_failed', message: expect.stringContaining('Agent wallet not found') });
      expect((await m.svc.db.x402Payment.findUniqueOrThrow({ where: { usageId } })).status).toBe('reserved');
      expect(up.used.size).toBe(0);
    } finally {
      await up.close();
    }
  });
});
