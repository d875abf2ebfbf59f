import { randomUUID } from 'node:crypto';
import { ChainWallets, startWalletsOnChain, asUser, asService, call, uniq } from './chain-helpers';
import { driftedAccounts, fund, internalBalance, ledgerCounts, unbalancedEntries } from './helpers';

jest.setTimeout(90_000);

/**
 * POST /internal/debits with an `agent_id`: the prepaid-balance debit counts against that
 * agent's policy spend like a session debit, is refused over a limit without moving money,
 * and its refund gives the spend back.
 */
describe('balance debits paid by an agent', () => {
  let w: ChainWallets;
  beforeAll(async () => {
    w = await startWalletsOnChain({ DEV_ROUTES: 'true' });
  });
  afterAll(() => w?.stop());
  afterEach(async () => {
    expect(await unbalancedEntries(w.svc.db)).toBe(0);
    expect(await driftedAccounts(w.svc.db)).toBe(0);
  });

  const user = uniq('balance-agent-user');
  const me = asUser(user);

  async function agentWith(policy: Record<string, unknown>, headers = me): Promise<string> {
    const a = await call(`${w.url}/agents`, { body: { name: uniq('Balance Bot') }, headers });
    expect(a.status).toBe(201);
    if (Object.keys(policy).length) expect((await call(`${w.url}/agents/${a.body.id}/policy`, { method: 'PUT', headers, body: policy })).status).toBe(200);
    return a.body.id;
  }
  const debit = (d: { amount_micros: string; agent_id?: string; usage_id?: string; buyer_id?: string; org_id?: string }) =>
    call(`${w.url}/internal/debits`, { headers: asService(), body: { usage_id: randomUUID(), buyer_id: user, provider_id: 'prov-1', service_id: 'svc-1', ...d } });
  const spend = async (agentId: string) => {
    const rows = await w.svc.db.agentSpend.findMany({ where: { agentId } });
    return Object.fromEntries(rows.map((r) => [r.period.split(':')[0], r.spent]));
  };
  /** A refusal that moved nothing: the status and reason, and the ledger and balance as before. */
  async function refused(d: Parameters<typeof debit>[0], status: number, reason: string) {
    const before = { counts: await ledgerCounts(w.svc.db), balance: await internalBalance(w, d.buyer_id ?? user) };
    const r = await debit(d);
    expect({ status: r.status, reason: r.body.errors?.reason }).toEqual({ status, reason });
    expect(typeof r.body.detail).toBe('string');
    expect({ counts: await ledgerCounts(w.svc.db), balance: await internalBalance(w, d.buyer_id ?? user) }).toEqual(before);
    return r;
  }

  beforeAll(async () => {
    expect((await fund(w, user, '10.00')).status).toBe(200);
  });

  it('counts against per_call_max and the daily limit, refuses over them without moving money, and a refund gives the spend back', async () => {
    const agent = await agentWith({ per_call_max: 60_000, daily_limit: 100_000 });
    await refused({ agent_id: agent, amount_micros: '60001' }, 402, 'per_call_max');
    const first = await debit({ agent_id: agent, amount_micros: '50000' });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ debited_micros: '50000', balance_micros: '9950000', duplicate: false });
    expect((await debit({ agent_id: agent, amount_micros: '50000' })).status).toBe(200);
    expect(await spend(agent)).toEqual({ total: 100_000n, d: 100_000n, m: 100_000n });
    const over = await refused({ agent_id: agent, amount_micros: '1' }, 402, 'daily_limit');
    expect(over.body.detail).toMatch(/daily_limit/);

    // The refund of an agent's debit gives its spend back, once.
    const usage = first.body.usage_id as string;
    expect((await call(`${w.url}/internal/refunds`, { headers: asService(), body: { usage_id: usage } })).status).toBe(200);
    expect(await spend(agent)).toEqual({ total: 50_000n, d: 50_000n, m: 50_000n });
    expect((await call(`${w.url}/internal/refunds`, { headers: asService(), body: { usage_id: usage } })).body.duplicate).toBe(true);
    expect(await spend(agent)).toEqual({ total: 50_000n, d: 50_000n, m: 50_000n });
    expect((await debit({ agent_id: agent, amount_micros: '50000' })).status).toBe(200);

    // payment.completed names the agent (identity attributes department spend by it).
    const events = await w.svc.db.outboxEvent.findMany({ where: { type: 'payment.completed' } });
    const mine = events.map((e) => (e.envelope as { data: { usage_id: string; agent_id?: string } }).data).find((d) => d.usage_id === usage);
    expect(mine?.agent_id).toBe(agent);
  });

  it('refuses over the monthly limit and the spending cap with their own reasons', async () => {
    const monthly = await agentWith({ monthly_limit: 70_000 });
    expect((await debit({ agent_id: monthly, amount_micros: '50000' })).status).toBe(200);
    await refused({ agent_id: monthly, amount_micros: '30000' }, 402, 'monthly_limit');
    const capped = await agentWith({ spending_cap: 40_000 });
    expect((await debit({ agent_id: capped, amount_micros: '30000' })).status).toBe(200);
    await refused({ agent_id: capped, amount_micros: '20000' }, 402, 'spending_cap');
    expect(await spend(capped)).toEqual({ total: 30_000n, d: 30_000n, m: 30_000n });
  });

  it("refuses another account's agent (404) and a deactivated one (403); an org's agent pays with org_id", async () => {
    const stranger = uniq('stranger');
    const theirs = await agentWith({}, asUser(stranger));
    await refused({ agent_id: theirs, amount_micros: '1000' }, 404, 'agent_not_found');
    await refused({ agent_id: randomUUID(), amount_micros: '1000' }, 404, 'agent_not_found');

    const org = uniq('org');
    const orgAgent = await agentWith({ daily_limit: 5_000 }, asUser(user, { id: org, role: 'owner' }));
    await refused({ agent_id: orgAgent, amount_micros: '1000' }, 404, 'agent_not_found');
    expect((await debit({ agent_id: orgAgent, org_id: org, amount_micros: '1000' })).status).toBe(200);
    expect(await spend(orgAgent)).toEqual({ total: 1_000n, d: 1_000n, m: 1_000n });
    await refused({ agent_id: orgAgent, org_id: org, amount_micros: '4001' }, 402, 'daily_limit');

    const retired = await agentWith({});
    expect((await call(`${w.url}/agents/${retired}`, { method: 'DELETE', headers: me })).status).toBe(200);
    await refused({ agent_id: retired, amount_micros: '1000' }, 403, 'agent_inactive');
  });

  it('answers a replay with the first result, refuses the usage id reused with another agent, and leaves debits without an agent alone', async () => {
    const agent = await agentWith({ daily_limit: 1_000_000 });
    const other = await agentWith({});
    const usage_id = randomUUID();
    const first = await debit({ usage_id, agent_id: agent, amount_micros: '7000' });
    expect(first.status).toBe(200);
    const replay = await debit({ usage_id, agent_id: agent, amount_micros: '7000' });
    expect(replay.body).toEqual({ ...first.body, duplicate: true });
    expect(await spend(agent)).toEqual({ total: 7_000n, d: 7_000n, m: 7_000n });
    expect((await debit({ usage_id, agent_id: other, amount_micros: '7000' })).status).toBe(409);
    expect((await debit({ usage_id, amount_micros: '7000' })).status).toBe(409);

    const plain = await debit({ amount_micros: '7000' });
    expect(plain.status).toBe(200);
    const entry = await w.svc.db.ledgerEntry.findUniqueOrThrow({ where: { idempotencyKey: `payment:${plain.body.usage_id}` } });
    expect(entry.metadata).not.toHaveProperty('agent_id');
    expect(await spend(agent)).toEqual({ total: 7_000n, d: 7_000n, m: 7_000n });
    expect((await debit({ agent_id: '', amount_micros: '1' })).status).toBe(400);
  });
});
