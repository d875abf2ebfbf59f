import { randomUUID } from 'node:crypto';
import { eventually } from '@platform/testing';
import { createEnvelope } from '@platform/events';
import { Identity, startIdentity, stagedEvents } from './support';
import { as, deliver, newOrg, newUser, orgSnapshot } from './org-support';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// Real PostgreSQL on a machine shared with other suites: start-up and teardown can be slow.
jest.setTimeout(30_000);

describe('spec 001 departments', () => {
  let id: Identity;
  beforeAll(async () => {
    id = await startIdentity('identity_departments');
  });
  afterAll(() => id.stop());

  const expectRefused = async (res: { status: number; body: any }, status: number, before: unknown) => { // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(res.status).toBe(status);
    expect(Object.keys(res.body).sort()).toEqual(['error', 'request_id']);
    expect(typeof res.body.error).toBe('string');
    expect(await orgSnapshot(id.svc.db)).toEqual(before);
  };

  /** One org for the read-only refusal cases, so each does not sign four users up. */
  let shared: Promise<Awaited<ReturnType<typeof newOrg>>> | undefined;
  const sharedOrg = () => (shared ??= newOrg(id, 'Shared'));

  /** Delivers an event and waits until identity's consumer has taken it. */
  const consumed = async (e: { id: string }) =>
    eventually(async () => (await id.svc.db.processedEvent.count({ where: { eventId: e.id } })) > 0);

  const walletAgent = (org: { orgId: string; owner: { id: string } }, departmentId: string | null, name = 'Research Bot') => ({
    agent_id: randomUUID(),
    org_id: org.orgId,
    owner_id: org.owner.id,
    name,
    department_id: departmentId,
    wallet_address: `0x${randomUUID().replace(/-/g, '').padEnd(40, 'a')}`,
  });

  it('creates the spec example and stages department.created', async () => {
    const org = await newOrg(id);
    const res = await as(id, org.admin, 'POST', '/departments', { name: 'Engineering', budget_limit: 500000000 });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ department: { id: expect.stringMatching(UUID), name: 'Engineering', budget_limit: 500000000, agent_count: 0, created_at: expect.any(Number) } });
    const [event] = (await stagedEvents(id.svc.db, 'department.created')).filter((e) => e.subject === res.body.department.id);
    expect(event.data).toEqual({ department_id: res.body.department.id, org_id: org.orgId, name: 'Engineering', budget_limit: '500000000' });
  });

  it('lets viewers and members read but never write, changing nothing', async () => {
    const org = await newOrg(id);
    const dept = (await as(id, org.owner, 'POST', '/departments', { name: 'Ops', budget_limit: 1000 })).body.department;
    const outsider = await newUser(id);
    const before = await orgSnapshot(id.svc.db);
    for (const reader of [org.viewer, org.member]) {
      await expectRefused(await as(id, reader, 'POST', '/departments', { name: 'Sneaky', budget_limit: 1 }), 403, before);
      await expectRefused(await as(id, reader, 'PUT', `/departments/${dept.id}`, { budget_limit: 5 }), 403, before);
      await expectRefused(await as(id, reader, 'DELETE', `/departments/${dept.id}`), 403, before);
      const list = await as(id, reader, 'GET', '/departments');
      expect(list.status).toBe(200);
      expect(list.body.departments.map((d: { id: string }) => d.id)).toEqual([dept.id]);
      expect((await as(id, reader, 'GET', `/departments/${dept.id}`)).body.department.name).toBe('Ops');
    }
    await expectRefused(await as(id, outsider, 'GET', '/departments'), 403, before);
    await expectRefused(await as(id, outsider, 'POST', '/departments', { name: 'x', budget_limit: 1 }), 403, before);
  });

  it('updates name and budget (PUT spec example) and stages department.updated', async () => {
    const org = await newOrg(id);
    const dept = (await as(id, org.owner, 'POST', '/departments', { name: 'Engineering', budget_limit: 500000000 })).body.department;
    const res = await as(id, org.admin, 'PUT', `/departments/${dept.id}`, { name: 'Engineering (Core)', budget_limit: 750000000 });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ department: { ...dept, name: 'Engineering (Core)', budget_limit: 750000000 } });
    expect((await as(id, org.admin, 'PUT', `/departments/${dept.id}`, { budget_limit: 1 })).body.department).toMatchObject({ name: 'Engineering (Core)', budget_limit: 1 });
    const updates = (await stagedEvents(id.svc.db, 'department.updated')).filter((e) => e.subject === dept.id);
    expect(updates.map((e) => e.data.budget_limit)).toEqual(['750000000', '1']);
  });

  it.each([
    ['no budget_limit', { name: 'A' }],
    ['a negative budget_limit', { name: 'A', budget_limit: -1 }],
    ['a fractional budget_limit', { name: 'A', budget_limit: 1.5 }],
    ['a budget_limit as a string', { name: 'A', budget_limit: '500000000' }],
    ['a budget_limit above $1B', { name: 'A', budget_limit: 1e15 + 1 }],
    ['an empty name', { name: '', budget_limit: 1 }],
    ['a name of 129 characters', { name: 'n'.repeat(129), budget_limit: 1 }],
    ['bad JSON', '{"name":'],
  ])('answers 400 {"error"} to POST with %s, changing nothing', async (_what, body) => {
    const org = await sharedOrg();
    const before = await orgSnapshot(id.svc.db);
    await expectRefused(await as(id, org.owner, 'POST', '/departments', body), 400, before);
  });

  it('refuses duplicate names, empty updates, malformed ids and other orgs\' departments', async () => {
    const org = await newOrg(id);
    const other = await newOrg(id, 'Other');
    const a = (await as(id, org.owner, 'POST', '/departments', { name: 'A', budget_limit: 1 })).body.department;
    await as(id, org.owner, 'POST', '/departments', { name: 'B', budget_limit: 1 });
    const theirs = (await as(id, other.owner, 'POST', '/departments', { name: 'A', budget_limit: 1 })).body.department;
    expect(theirs.id).toEqual(expect.stringMatching(UUID));
    const before = await orgSnapshot(id.svc.db);
    await expectRefused(await as(id, org.owner, 'POST', '/departments', { name: 'A', budget_limit: 2 }), 409, before);
    await expectRefused(await as(id, org.owner, 'PUT', `/departments/${a.id}`, { name: 'B' }), 409, before);
    await expectRefused(await as(id, org.owner, 'PUT', `/departments/${a.id}`, {}), 400, before);
    await expectRefused(await as(id, org.owner, 'PUT', '/departments/nope', { name: 'C' }), 400, before);
    await expectRefused(await as(id, org.owner, 'GET', '/departments/nope'), 400, before);
    await expectRefused(await as(id, org.owner, 'GET', `/departments/${theirs.id}`), 404, before);
    await expectRefused(await as(id, org.owner, 'PUT', `/departments/${theirs.id}`, { name: 'Mine now' }), 404, before);
    await expectRefused(await as(id, org.owner, 'DELETE', `/departments/${theirs.id}`), 404, before);
    await expectRefused(await as(id, org.owner, 'DELETE', `/departments/${randomUUID()}`), 404, before);
    for (const q of ['limit=0', 'limit=101', 'offset=-1']) expect((await as(id, org.owner, 'GET', `/departments?${q}`)).status).toBe(400);
  });

  it('counts wallet agents and their spend per department from wallets\' events, once per event and per payment', async () => {
    const org = await newOrg(id);
    const other = await newOrg(id, 'Other');
    const eng = (await as(id, org.owner, 'POST', '/departments', { name: 'Engineering', budget_limit: 500000000 })).body.department;
    const ops = (await as(id, org.owner, 'POST', '/departments', { name: 'Ops', budget_limit: 1000 })).body.department;
    const theirs = (await as(id, other.owner, 'POST', '/departments', { name: 'Theirs', budget_limit: 1 })).body.department;

    const a1 = walletAgent(org, eng.id, 'Research Bot');
    const a2 = walletAgent(org, eng.id, 'Writer Bot');
    const a3 = walletAgent(org, null, 'Loose Bot');
    const a4 = walletAgent(org, theirs.id, 'Confused Bot');
    const created = [];
    for (const a of [a1, a2, a3, a4]) created.push(await deliver(id, 'wallets', 'wallet.agent.created', a.agent_id, a));
    // At-least-once: the same envelope again changes nothing.
    await id.bus.publish([created[0] as never]);
    for (const e of created) await consumed(e);

    const pay = (agentId: string, amount: string, paymentId: string = randomUUID()) =>
      deliver(id, 'wallets', 'payment.completed', agentId, {
        payment_id: paymentId, usage_id: randomUUID(), buyer_id: org.owner.id, provider_id: 'prov', service_id: 'svc', amount_micros: amount, method: 'session', agent_id: agentId,
      });
    const p1 = await pay(a1.agent_id, '1500000');
    const p2 = await pay(a2.agent_id, '2500000');
    const p3 = await pay(a3.agent_id, '700');
    // The same payment under a new event id (a producer retry) counts once.
    const p4 = await pay(a1.agent_id, '1500000', p1.data.payment_id);
    for (const e of [p1, p2, p3, p4]) await consumed(e);

    let list = await as(id, org.viewer, 'GET', '/departments');
    expect(list.status).toBe(200);
    expect(list.body).toEqual({
      departments: [
        { id: eng.id, name: 'Engineering', budget_limit: 500000000, agent_count: 2, total_spend: 4000000, budget_remaining: 496000000, created_at: eng.created_at },
        { id: ops.id, name: 'Ops', budget_limit: 1000, agent_count: 0, total_spend: 0, budget_remaining: 1000, created_at: ops.created_at },
      ],
      unassigned: { agent_count: 2, total_spend: 700 },
      total: 2,
      limit: 50,
      offset: 0,
    });
    expect((await as(id, org.member, 'GET', '/departments?limit=1&offset=1')).body.departments.map((d: { id: string }) => d.id)).toEqual([ops.id]);

    // Moving an agent moves its future spend; deactivating it stops counting it.
    await consumed(await deliver(id, 'wallets', 'wallet.agent.updated', a2.agent_id, { ...a2, department_id: ops.id }));
    await consumed(await pay(a2.agent_id, '300'));
    await consumed(await deliver(id, 'wallets', 'wallet.agent.deactivated', a1.agent_id, a1));
    list = await as(id, org.viewer, 'GET', '/departments');
    expect(list.body.departments.map((d: { agent_count: number; total_spend: number }) => [d.agent_count, d.total_spend])).toEqual([[0, 4000000], [1, 300]]);
    expect(list.body.departments[1].budget_remaining).toBe(700);
    expect((await as(id, org.viewer, 'GET', `/departments/${eng.id}`)).body.department).toMatchObject({ agent_count: 0, total_spend: 4000000 });

    // The other org sees none of it.
    expect((await as(id, other.owner, 'GET', '/departments')).body).toMatchObject({ departments: [{ id: theirs.id, agent_count: 0, total_spend: 0 }], unassigned: { agent_count: 0, total_spend: 0 } });
  });

  it('deletes a department, moving its agents and spend to Unassigned, and stages department.deleted', async () => {
    const org = await newOrg(id);
    const dept = (await as(id, org.owner, 'POST', '/departments', { name: 'Doomed', budget_limit: 10 })).body.department;
    const a = walletAgent(org, dept.id);
    await consumed(await deliver(id, 'wallets', 'wallet.agent.created', a.agent_id, a));
    await consumed(
      await deliver(id, 'wallets', 'payment.completed', a.agent_id, {
        payment_id: randomUUID(), usage_id: randomUUID(), buyer_id: a.agent_id, provider_id: 'p', service_id: 's', amount_micros: '42', method: 'x402',
      }),
    );
    expect((await as(id, org.owner, 'GET', '/departments')).body.departments[0]).toMatchObject({ agent_count: 1, total_spend: 42 });

    const res = await as(id, org.admin, 'DELETE', `/departments/${dept.id}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ deleted: true, id: dept.id });
    const after = await as(id, org.owner, 'GET', '/departments');
    expect(after.body).toMatchObject({ departments: [], unassigned: { agent_count: 1, total_spend: 42 }, total: 0 });
    expect((await as(id, org.owner, 'GET', `/departments/${dept.id}`)).status).toBe(404);
    const [deleted] = (await stagedEvents(id.svc.db, 'department.deleted')).filter((e) => e.subject === dept.id);
    expect(deleted.data).toEqual({ department_id: dept.id, org_id: org.orgId, name: 'Doomed', budget_limit: '10' });
    expect((await id.svc.db.walletAgent.findUniqueOrThrow({ where: { agentId: a.agent_id } })).departmentId).toBeNull();
  });

  it('never lets an older wallet event overwrite a newer one', async () => {
    const org = await newOrg(id);
    const dept = (await as(id, org.owner, 'POST', '/departments', { name: 'D', budget_limit: 1 })).body.department;
    const a = walletAgent(org, null);
    const late = { ...createEnvelope('wallets', 'wallet.agent.created', a.agent_id, a), time: new Date(Date.now() - 60_000).toISOString() };
    await consumed(await deliver(id, 'wallets', 'wallet.agent.updated', a.agent_id, { ...a, department_id: dept.id }));
    await id.bus.publish([late as never]);
    await consumed(late);
    expect((await as(id, org.owner, 'GET', '/departments')).body.departments[0].agent_count).toBe(1);
    expect((await id.svc.db.walletAgent.findUniqueOrThrow({ where: { agentId: a.agent_id } })).departmentId).toBe(dept.id);
  });
});
