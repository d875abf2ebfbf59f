import { randomUUID } from 'node:crypto';
import { eventually } from '@platform/testing';
import { AnyEnvelope, createEnvelope, EventData, idempotentBatchHandler, idempotentHandler } from '@platform/events';
import { Identity, startIdentity } from './support';
import { as, deliver, newOrg } from './org-support';
import { unitOfWork } from '../src/db/unit-of-work';
import { createDepartmentsService } from '../src/domain/departments.service';
import { paymentCompletedConsumer } from '../src/events/consumers/payment-completed.consumer';

// Two services on two fresh databases, on a machine shared with other suites: start-up is slow.
jest.setTimeout(60_000);

/**
 * A Kafka fetch's payment.completed events are applied at once (recordPayments: one query for
 * their agents, one insert): department spend must end exactly as one-by-one delivery leaves it.
 * Two identities, the same wallet agents and the same payment envelopes: `one` takes them from
 * its bus one at a time; `many` takes them as a batch through the batch handler the service
 * builds for a Kafka fetch (the in-process bus only ever delivers one by one).
 */
describe('spec 001 department spend from payment.completed in batches', () => {
  let one: Identity;
  let many: Identity;
  beforeAll(async () => {
    [one, many] = await Promise.all([startIdentity('identity_dept_one'), startIdentity('identity_dept_many')]);
  });
  afterAll(async () => {
    await Promise.all([one?.stop(), many?.stop()]);
  });

  /** Waits until identity's consumer has taken an event delivered on its bus. */
  const consumed = (id: Identity, e: { id: string }) => eventually(async () => (await id.svc.db.processedEvent.count({ where: { eventId: e.id } })) > 0);

  // Agent ids are chosen here, so both databases hold the same agents (in their own org).
  const inDept = randomUUID();
  const loose = randomUUID();
  const personal = randomUUID();

  /** An org with an Engineering department and the three wallet agents, as wallets' events describe them. */
  const setUp = async (id: Identity) => {
    const org = await newOrg(id);
    const eng = (await as(id, org.owner, 'POST', '/departments', { name: 'Engineering', budget_limit: 500000000 })).body.department;
    const agent = (agent_id: string, org_id: string | null, department_id: string | null, name: string) => ({
      agent_id,
      org_id,
      owner_id: org.owner.id,
      name,
      department_id,
      wallet_address: `0x${agent_id.replace(/-/g, '').padEnd(40, 'a')}`,
    });
    for (const a of [agent(inDept, org.orgId, eng.id, 'Research Bot'), agent(loose, org.orgId, null, 'Loose Bot'), agent(personal, null, null, 'Own Bot')]) {
      await consumed(id, await deliver(id, 'wallets', 'wallet.agent.created', a.agent_id, a));
    }
    return { org, eng };
  };

  const payment = (over: Partial<EventData<'payment.completed'>> & Pick<EventData<'payment.completed'>, 'buyer_id' | 'amount_micros'>, at: Date, paymentId: string = randomUUID()) => {
    const e = createEnvelope('wallets', 'payment.completed', paymentId, {
      payment_id: paymentId, usage_id: randomUUID(), provider_id: 'prov', service_id: 'svc', method: 'session', ...over,
    });
    e.time = at.toISOString();
    return e;
  };

  /** agent_payments with each instance's own org and department ids named, so two databases compare. */
  const payments = async (id: Identity, s: { org: { orgId: string }; eng: { id: string } }) =>
    (await id.svc.db.agentPayment.findMany({ orderBy: { paymentId: 'asc' } })).map((p) => ({
      ...p,
      orgId: p.orgId === s.org.orgId ? 'org' : p.orgId,
      departmentId: p.departmentId === s.eng.id ? 'Engineering' : p.departmentId,
    }));
  const departments = async (id: Identity, s: { org: { owner: Parameters<typeof as>[1] } }) => {
    const r = await as(id, s.org.owner, 'GET', '/departments');
    expect(r.status).toBe(200);
    return { ...r.body, departments: r.body.departments.map(({ id: _id, created_at: _at, ...d }: Record<string, unknown>) => d) };
  };

  it('attributes spend to departments as one-by-one delivery does, once per payment, and a redelivered batch adds nothing', async () => {
    const [a, b] = [await setUp(one), await setUp(many)];
    const t = (s: number) => new Date(Date.parse('2026-03-01T10:00:00.000Z') + s * 1000);

    // Seen before the batch by both: its payment id comes again inside the batch.
    const p0 = payment({ buyer_id: a.org.owner.id, agent_id: loose, amount_micros: '58' }, t(0));
    const p1 = payment({ buyer_id: a.org.owner.id, agent_id: inDept, amount_micros: '1500000' }, t(1)); // an org agent in a department
    const p2 = payment({ buyer_id: a.org.owner.id, agent_id: loose, amount_micros: '700' }, t(2)); // an org agent in none
    const p3 = payment({ buyer_id: `buyer-${randomUUID()}`, amount_micros: '999' }, t(3)); // a buyer that is no agent: ignored
    const p4 = payment({ buyer_id: inDept, agent_id: randomUUID(), amount_micros: '2500000' }, t(4)); // unknown agent_id: the buyer is the agent
    const p5 = payment({ buyer_id: a.org.owner.id, agent_id: inDept, amount_micros: '1500000' }, t(5), p1.data.payment_id); // p1 again, new event id
    const p6 = payment({ buyer_id: loose, agent_id: personal, amount_micros: '31' }, t(6)); // a known agent of no org: not the buyer's org
    const p7 = payment({ buyer_id: loose, amount_micros: '42' }, t(7)); // no agent_id: the buyer is the agent
    const p0again = payment({ buyer_id: a.org.owner.id, agent_id: loose, amount_micros: '58' }, t(8), p0.data.payment_id);
    const batch: AnyEnvelope[] = [p1, p2, p3, p4, p2, p5, p6, p7, p0again]; // p2's envelope twice in one fetch

    for (const id of [one, many]) {
      await id.bus.publish([p0 as never]);
      await consumed(id, p0);
    }

    // One by one, through identity's bus and its own consumer.
    for (const e of batch) await one.bus.publish([e as never]);
    await consumed(one, p0again); // the bus delivers in order: everything before it is applied

    // As one fetch, through the batch handler startService builds, with this consumer's handleBatch as `many`.
    const uow = unitOfWork(many.svc.db, many.svc.outbox);
    const consumer = paymentCompletedConsumer({ uow, departments: createDepartmentsService({ uow }) });
    const name = 'identity.payment-completed';
    const alone: string[] = [];
    const single = idempotentHandler(many.svc.db, name, (e, tx) => {
      alone.push(e.id);
      return consumer.handle(e, tx, many.svc.db);
    });
    const handed: string[][] = [];
    const applyBatch = idempotentBatchHandler(many.svc.db, name, (e, tx) => consumer.handle(e, tx, many.svc.db), single, {
      many: (es, tx) => {
        handed.push(es.map((e) => e.id));
        return consumer.handleBatch!(es, tx, many.svc.db);
      },
    });
    await applyBatch(batch);
    expect(handed).toEqual([[p1, p2, p3, p4, p5, p6, p7, p0again].map((e) => e.id)]);
    expect(alone).toEqual([]); // the batch committed whole

    const rows = await payments(many, b);
    expect(rows).toEqual(await payments(one, a));
    expect(rows).toEqual(
      [
        { paymentId: p0.data.payment_id, agentId: loose, orgId: 'org', departmentId: null, amountMicros: 58n, paidAt: t(0) },
        { paymentId: p1.data.payment_id, agentId: inDept, orgId: 'org', departmentId: 'Engineering', amountMicros: 1500000n, paidAt: t(1) },
        { paymentId: p2.data.payment_id, agentId: loose, orgId: 'org', departmentId: null, amountMicros: 700n, paidAt: t(2) },
        { paymentId: p4.data.payment_id, agentId: inDept, orgId: 'org', departmentId: 'Engineering', amountMicros: 2500000n, paidAt: t(4) },
        { paymentId: p7.data.payment_id, agentId: loose, orgId: 'org', departmentId: null, amountMicros: 42n, paidAt: t(7) },
      ].sort((x, y) => x.paymentId.localeCompare(y.paymentId)),
    );
    const list = await departments(many, b);
    expect(list).toEqual(await departments(one, a));
    expect(list).toEqual({
      departments: [{ name: 'Engineering', budget_limit: 500000000, agent_count: 1, total_spend: 4000000, budget_remaining: 496000000 }],
      unassigned: { agent_count: 1, total_spend: 800 },
      total: 1,
      limit: 50,
      offset: 0,
    });

    // Redelivered whole (a crash before the offset commit): every id is seen, nothing is applied.
    await applyBatch(batch);
    expect(handed).toHaveLength(1);
    expect(alone).toEqual([]);
    expect(await payments(many, b)).toEqual(rows);
  });
});
