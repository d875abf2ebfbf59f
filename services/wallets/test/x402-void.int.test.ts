import { randomUUID } from 'node:crypto';
import { Contract, Signature, Wallet, hexlify, randomBytes } from 'ethers';
import { ChainWallets, startWalletsOnChain, asUser, asService, call, uniq } from './chain-helpers';
import { driftedAccounts, ledgerCounts, unbalancedEntries } from './helpers';

jest.setTimeout(90_000);

/**
 * POST /internal/agents/:id/eip3009-authorizations/:nonce/void: a refused or unsent x402
 * payment's booking is released once; a used one (authorizationState on chain) is a 409.
 */
describe('voiding signed EIP-3009 authorizations', () => {
  let w: ChainWallets;
  beforeAll(async () => {
    w = await startWalletsOnChain({ GAS_SPONSOR_GWEI: '2000000' });
  });
  afterAll(() => w?.stop());
  afterEach(async () => {
    expect(await unbalancedEntries(w.svc.db)).toBe(0);
    expect(await driftedAccounts(w.svc.db)).toBe(0);
  });

  const user = uniq('void-user');
  const me = asUser(user);

  async function fundedAgent(micros = 2_000_000n) {
    const agent = (await call(`${w.url}/agents`, { body: { name: uniq('Void Bot') }, headers: me })).body as { id: string; wallet_address: string };
    const funder = await w.newFunder();
    const hash = await w.send(funder, agent.wallet_address, micros);
    expect((await call(`${w.url}/agents/${agent.id}/fund`, { body: { tx_hash: hash }, headers: me })).status).toBe(200);
    return agent;
  }
  const payTo = Wallet.createRandom().address;
  const authorization = (over: Record<string, string> = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return { to: payTo, value: '50000', valid_after: String(now - 600), valid_before: String(now + 300), nonce: hexlify(randomBytes(32)), service: 'exa.ai', usage_id: randomUUID(), ...over };
  };
  const sign = (agentId: string, body: unknown) => call(`${w.url}/internal/agents/${agentId}/eip3009-authorizations`, { headers: asService(), body });
  const voidIt = (agentId: string, nonce: string) => call(`${w.url}/internal/agents/${agentId}/eip3009-authorizations/${nonce}/void`, { headers: asService(), body: {} });
  const spend = async (agentId: string) => {
    const rows = await w.svc.db.agentSpend.findMany({ where: { agentId } });
    return Object.fromEntries(rows.map((r) => [r.period.split(':')[0], r.spent]));
  };
  const walletBook = async (agentId: string) =>
    (await w.svc.db.ledgerAccount.findUniqueOrThrow({ where: { ownerId_kind_currency: { ownerId: agentId, kind: 'agent_wallet', currency: 'USDC' } } })).balance;

  it('releases an unsent booking once: ledger reversed, spend given back, off the transaction list; the nonce cannot be signed again', async () => {
    const agent = await fundedAgent();
    await call(`${w.url}/agents/${agent.id}/policy`, { method: 'PUT', headers: me, body: { daily_limit: 60_000 } });
    const body = authorization();
    expect((await sign(agent.id, body)).status).toBe(201);
    expect(await spend(agent.id)).toEqual({ total: 50_000n, d: 50_000n, m: 50_000n });
    expect(await walletBook(agent.id)).toBe(1_950_000n);
    // The daily limit holds only one such payment.
    expect((await sign(agent.id, authorization())).status).toBe(402);

    const v = await voidIt(agent.id, body.nonce);
    expect(v.status).toBe(200);
    expect(v.body).toEqual({ agent_id: agent.id, nonce: body.nonce.toLowerCase(), usage_id: body.usage_id, voided_micros: '50000', duplicate: false });
    expect(await spend(agent.id)).toEqual({ total: 0n, d: 0n, m: 0n });
    expect(await walletBook(agent.id)).toBe(2_000_000n);
    const txs = (await call(`${w.url}/agents/${agent.id}/transactions`, { headers: me })).body.transactions as { type: string }[];
    expect(txs.filter((t) => t.type === 'payment')).toHaveLength(0);
    const reversal = await w.svc.db.ledgerEntry.findUniqueOrThrow({ where: { idempotencyKey: `x402_void:${agent.id}:${body.nonce.toLowerCase()}` } });
    expect(reversal.kind).toBe('refund');

    // Once: a replay answers the same and moves nothing.
    const before = await ledgerCounts(w.svc.db);
    expect((await voidIt(agent.id, body.nonce)).body).toEqual({ ...v.body, duplicate: true });
    expect(await ledgerCounts(w.svc.db)).toEqual(before);
    expect(await spend(agent.id)).toEqual({ total: 0n, d: 0n, m: 0n });

    // The voided nonce is never signed again; the released budget pays a new one.
    const again = await sign(agent.id, body);
    expect(again.status).toBe(409);
    expect(again.body.errors.reason).toBe('authorization_voided');
    expect((await sign(agent.id, authorization())).status).toBe(201);
  });

  it('answers 404 for an unknown nonce or agent and voids the nonce, so a signing arriving later is refused', async () => {
    const agent = await fundedAgent();
    const body = authorization();
    const before = await ledgerCounts(w.svc.db);
    const unknown = await voidIt(agent.id, body.nonce);
    expect(unknown.status).toBe(404);
    expect(unknown.body.errors.reason).toBe('no_authorization');
    expect((await voidIt(agent.id, body.nonce)).body.errors.reason).toBe('no_authorization');
    const late = await sign(agent.id, body);
    expect(late.status).toBe(409);
    expect(late.body.errors.reason).toBe('authorization_voided');
    expect(await ledgerCounts(w.svc.db)).toEqual(before);
    expect(await spend(agent.id)).toEqual({});

    const noAgent = await voidIt(randomUUID(), body.nonce);
    expect(noAgent.status).toBe(404);
    expect(noAgent.body.errors.reason).toBe('agent_not_found');
    expect((await voidIt(agent.id, '0x12')).status).toBe(400);
    expect((await call(`${w.url}/internal/agents/${agent.id}/eip3009-authorizations/${body.nonce}/void`, { headers: me, body: {} })).status).toBe(403);
  });

  it('refuses with 409 to void an authorization already used on chain, keeping its booking', async () => {
    const agent = await fundedAgent();
    const body = authorization();
    const signed = await sign(agent.id, body);
    expect(signed.status).toBe(201);
    const relayer = await w.newFunder(0n);
    const sig = Signature.from(signed.body.signature);
    const a = signed.body.authorization;
    await (await (w.usdc.connect(relayer) as Contract).transferWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, sig.v, sig.r, sig.s)).wait();

    const before = await ledgerCounts(w.svc.db);
    const v = await voidIt(agent.id, body.nonce);
    expect(v.status).toBe(409);
    expect(v.body.errors.reason).toBe('authorization_used');
    expect(await ledgerCounts(w.svc.db)).toEqual(before);
    expect(await spend(agent.id)).toEqual({ total: 50_000n, d: 50_000n, m: 50_000n });
    expect(await w.svc.db.x402Void.count({ where: { agentId: agent.id } })).toBe(0);
  });
});
