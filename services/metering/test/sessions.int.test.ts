import { randomBytes, randomUUID } from 'node:crypto';
import { Contract, JsonRpcProvider, Wallet } from 'ethers';
import type { Principal } from '@platform/auth';
import { eventually } from '@platform/testing';
import { startTestChain, TestChain } from '@platform/chain';
import { startMetering, Metering, request, calledEvents, closedPort } from './support/harness';

/**
 * Metering against real PostgreSQL and a real chain, with wallets' internal API stood in:
 * session debits given back when a session-paid call is not served (through the session
 * refund contract metering asks wallets for), and `unsettled` x402 calls settled by the
 * sweeper from USDC's authorizationState.
 */
describe('session refunds and unsettled x402 payments', () => {
  let chain: TestChain;
  let m: Metering;
  let base: string;
  const user: Principal = { owner_id: 'user-sessions', kind: 'ig_key', key_id: 'ig_1', roles: ['user'], org_id: null, rate_limit: 60 };

  beforeAll(async () => {
    chain = await startTestChain();
    m = await startMetering({
      CHAIN_RPC_URL: chain.rpcUrl,
      CHAIN_ID: String(chain.chainId),
      USDC_ADDRESS: chain.usdcAddress,
      REFUND_SWEEP_MS: '50',
      UPSTREAM_TIMEOUT_MS: '1000',
    });
    base = m.svc.url;
    m.wallets.addAgent('bot', 'agent-1');
  });
  afterAll(async () => {
    await m?.stop();
    await chain?.stop();
  });

  const callDead = async (sessionId: string) => {
    const port = await closedPort();
    await m.publishService({ name: `Dead API ${port}`, endpoint: `http://127.0.0.1:${port}`, price_micros: '10000' });
    return request(base, 'POST', `/services/dead-api-${port}/x`, { as: user, headers: { 'x-agent-wallet': 'bot', 'x-session-id': sessionId, 'content-type': 'application/json' }, body: '{}' });
  };

  it('a session-paid call the provider never answers is given back to the session', async () => {
    m.wallets.openSession('s-dead', user.owner_id, 50_000n);
    const r = await callDead('s-dead');
    expect(r.status).toBe(502);
    expect(r.json()).toMatchObject({ error: 'Provider unreachable' });
    const usageId = r.headers['x-acf-usage-id'] as string;
    await eventually(async () => (await m.svc.db.usageRecord.findUnique({ where: { id: usageId } }))?.refund === 'done');
    expect(await m.svc.db.usageRecord.findUniqueOrThrow({ where: { id: usageId } })).toMatchObject({ status: 'failed', chargeMethod: 'session', sessionId: 's-dead', amountMicros: 0n });
    expect(m.wallets.sessions.get('s-dead')!.remaining).toBe(50_000n);
  });

  it('a wallets without the session refund route leaves the refund owed, retried until it is taken', async () => {
    m.wallets.openSession('s-owed', user.owner_id, 50_000n);
    m.wallets.sessionRefunds = false;
    try {
      const r = await callDead('s-owed');
      expect(r.status).toBe(502);
      const usageId = r.headers['x-acf-usage-id'] as string;
      const refundCalls = () => m.wallets.calls.filter((c) => c.path === '/internal/sessions/s-owed/refunds').length;
      // A 404 without reason "no_debit" is not "nothing to refund": the sweeper keeps asking.
      await eventually(async () => refundCalls() >= 3);
      expect((await m.svc.db.usageRecord.findUniqueOrThrow({ where: { id: usageId } })).refund).toBe('pending');
      expect(m.wallets.sessions.get('s-owed')!.remaining).toBe(40_000n);

      m.wallets.sessionRefunds = true;
      await eventually(async () => (await m.svc.db.usageRecord.findUnique({ where: { id: usageId } }))?.refund === 'done');
      expect(m.wallets.sessions.get('s-owed')!.remaining).toBe(50_000n);
    } finally {
      m.wallets.sessionRefunds = true;
    }
  });

  describe('unsettled x402 calls', () => {
    let provider: JsonRpcProvider;
    let usdc: Contract;
    const payTo = Wallet.createRandom().address;
    const domain = () => ({ name: 'USD Coin', version: '2', chainId: chain.chainId, verifyingContract: chain.usdcAddress });
    const types = {
      TransferWithAuthorization: [
        { name: 'from', type: 'address' },
        { name: 'to', type: 'address' },
        { name: 'value', type: 'uint256' },
        { name: 'validAfter', type: 'uint256' },
        { name: 'validBefore', type: 'uint256' },
        { name: 'nonce', type: 'bytes32' },
      ],
    };

    beforeAll(() => {
      provider = new JsonRpcProvider(chain.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 50 });
      usdc = new Contract(
        chain.usdcAddress,
        ['function transfer(address,uint256) returns (bool)', 'function balanceOf(address) view returns (uint256)', 'function transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)'],
        new Wallet(chain.treasuryPrivateKey, provider),
      );
    });
    afterAll(() => provider?.destroy());

    /** What a call whose paid request never got an answer leaves: the record `unsettled`, the payment `signed`. */
    async function leaveUnsettled(o: { payer: string; nonce: string; validBefore: bigint; chargeMethod: 'none' | 'balance'; usageId?: string }) {
      const usageId = o.usageId ?? randomUUID();
      await m.svc.db.usageRecord.create({
        data: {
          id: usageId,
          buyerId: user.owner_id,
          serviceId: 'api.example.com',
          providerId: 'api.example.com',
          method: 'GET',
          path: 'https://api.example.com/data',
          amountMicros: o.chargeMethod === 'balance' ? 10_000n : 0n,
          freeTier: false,
          paymentMethod: o.chargeMethod,
          chargeMethod: o.chargeMethod,
          channel: 'external',
          agentId: 'agent-1',
          status: 'unsettled',
          statusCode: 504,
          latencyMs: 1000,
        },
      });
      await m.svc.db.x402Payment.create({
        data: {
          usageId,
          agentId: 'agent-1',
          x402Version: 1,
          network: `eip155:${chain.chainId}`,
          asset: chain.usdcAddress,
          payTo,
          amountMicros: 25_000n,
          nonce: o.nonce,
          validAfter: 0n,
          validBefore: o.validBefore,
          challenge: {},
          headerName: 'x-payment',
          headerValue: 'e30=',
          status: 'signed',
          payer: o.payer,
        },
      });
      return usageId;
    }

    it('a payment that reached the chain is billed once, with one service.called', async () => {
      const agent = Wallet.createRandom();
      await (await usdc.transfer(agent.address, 100_000n)).wait();
      const nonce = `0x${randomBytes(32).toString('hex')}`;
      const validBefore = BigInt(Math.floor(Date.now() / 1000) + 3600);
      const a = { from: agent.address, to: payTo, value: 25_000n, validAfter: 0n, validBefore, nonce };
      const signature = await agent.signTypedData(domain(), types, a);
      // The facilitator submitted it; its answer is what was lost.
      await (await usdc.transferWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, signature)).wait();

      const usageId = await leaveUnsettled({ payer: agent.address, nonce, validBefore, chargeMethod: 'none' });
      await eventually(async () => (await m.svc.db.usageRecord.findUnique({ where: { id: usageId } }))?.status === 'completed');
      expect(await m.svc.db.usageRecord.findUniqueOrThrow({ where: { id: usageId } })).toMatchObject({ amountMicros: 25_000n, paymentMethod: 'x402', statusCode: 504 });
      expect((await m.svc.db.x402Payment.findUniqueOrThrow({ where: { usageId } })).status).toBe('settled');
      await eventually(async () => (await calledEvents(m.svc)).filter((e) => e.usage_id === usageId).length === 1);
      expect((await calledEvents(m.svc)).filter((e) => e.usage_id === usageId)).toEqual([expect.objectContaining({ amount_micros: '25000', payment_method: 'x402' })]);
      expect(BigInt(await usdc.balanceOf(payTo))).toBe(25_000n);
    });

    it('an authorization never used waits until it expires, then the call is closed and its charge refunded', async () => {
      const agent = Wallet.createRandom();
      const stillValid = await leaveUnsettled({ payer: agent.address, nonce: `0x${randomBytes(32).toString('hex')}`, validBefore: BigInt(Math.floor(Date.now() / 1000) + 3600), chargeMethod: 'none' });
      const expiredId = randomUUID();
      m.wallets.fund(user.owner_id, 10_000n);
      m.wallets.debits.set(expiredId, { buyerId: user.owner_id, amount: 10_000n, refunded: false });
      m.wallets.fund(user.owner_id, -10_000n);
      await leaveUnsettled({ usageId: expiredId, payer: agent.address, nonce: `0x${randomBytes(32).toString('hex')}`, validBefore: BigInt(Math.floor(Date.now() / 1000) - 1), chargeMethod: 'balance' });

      await eventually(async () => (await m.svc.db.usageRecord.findUnique({ where: { id: expiredId } }))?.refund === 'done');
      expect(await m.svc.db.usageRecord.findUniqueOrThrow({ where: { id: expiredId } })).toMatchObject({ status: 'refused', amountMicros: 0n });
      expect((await m.svc.db.x402Payment.findUniqueOrThrow({ where: { usageId: expiredId } })).status).toBe('refused');
      expect(m.wallets.balance(user.owner_id)).toBe(10_000n);
      // Still usable by a facilitator: left alone.
      expect((await m.svc.db.usageRecord.findUniqueOrThrow({ where: { id: stillValid } })).status).toBe('unsettled');
      expect((await calledEvents(m.svc)).filter((e) => e.usage_id === expiredId || e.usage_id === stillValid)).toEqual([]);
    });
  });
});
