import { randomUUID } from 'node:crypto';
import { AnyEnvelope, idempotentHandler } from '@platform/events';
import { eventually } from '@platform/testing';
import { createLogger } from '@platform/telemetry';
import type { Consumer } from '@platform/service';
import type { Db } from '../src/db/client';
import { ledgerRepository } from '../src/db/ledger.repository';
import { creditPurchasesRepository } from '../src/db/credit-purchases.repository';
import { creditService } from '../src/domain/credits.service';
import { Bulkhead } from '../src/db/bulkhead';
import { walletEvents } from '../src/events/publishers';
import { runtimeValidatedConsumer } from '../src/events/consumers/runtime-validated.consumer';
import { runtimeIncidentConsumer } from '../src/events/consumers/runtime-incident.consumer';
import { webhookDeliveredConsumer } from '../src/events/consumers/webhook-delivered.consumer';
import { Wallets, startWallets, driftedAccounts, unbalancedEntries } from './helpers';
import { creditState, creditsBalance, creditsPostingsSum, envelope, getCredits, onboardOrg } from './credits.support';

jest.setTimeout(120_000);

const validated = (owner: string) => envelope('runtime', 'runtime.validated', owner, { validation_id: randomUUID(), owner_id: owner, valid: true });
const incident = (owner: string) => envelope('runtime', 'runtime.incident', owner, { incident_id: randomUUID(), owner_id: owner });
const webhookSent = (owner: string) =>
  envelope('webhooks', 'webhook.delivered', `wh-${owner}`, { delivery_id: randomUUID(), webhook_id: `wh-${owner}`, owner_id: owner, event: 'service.called', status_code: 200, attempts: 1 });

/** Spec 000 pricing: validate 1, incident 5, webhook 2; consumed from events, never below zero. */
describe('credit consumption by events', () => {
  let w: Wallets;
  beforeAll(async () => {
    w = await startWallets();
  });
  afterAll(() => w?.stop());

  const processed = () => w.svc.db.processedEvent.count({ where: { consumer: { in: ['wallets.runtime-validated', 'wallets.runtime-incident', 'wallets.webhook-delivered'] } } });
  const settle = async (count: number) => eventually(async () => (await processed()) >= count);

  it('takes 1 per validate call, 5 per incident and 2 per webhook sent, once per event', async () => {
    await onboardOrg(w, 'org-use');
    const base = await processed();
    const v = validated('org-use');
    const i = incident('org-use');
    const h = webhookSent('org-use');
    await w.bus.publish([v, i, h, v, i, h]);
    await settle(base + 3);
    await w.bus.publish([v]);
    // Let any redelivery land before counting.
    await new Promise((r) => setTimeout(r, 200));

    const r = await getCredits(w, 'org-use');
    expect(r.body.data).toMatchObject({ balance: 92, lifetime_purchased: 100, lifetime_consumed: 8 });
    const consumed = await w.svc.db.outboxEvent.findMany({ where: { type: 'credits.consumed', subject: 'org-use' }, orderBy: { seq: 'asc' } });
    expect(consumed.map((e) => (e.envelope as { data: { reason: string; credits: number; source_event_id: string } }).data)).toEqual(
      expect.arrayContaining([
        { owner_id: 'org-use', credits: 1, reason: 'validate_call', source_event_id: v.id, balance_after: expect.any(Number) },
        { owner_id: 'org-use', credits: 5, reason: 'incident_created', source_event_id: i.id, balance_after: expect.any(Number) },
        { owner_id: 'org-use', credits: 2, reason: 'webhook_sent', source_event_id: h.id, balance_after: expect.any(Number) },
      ]),
    );
    expect(consumed).toHaveLength(3);
    const entry = await w.svc.db.ledgerEntry.findUniqueOrThrow({ where: { idempotencyKey: `credit_use:${i.id}` }, include: { postings: { include: { account: true } } } });
    expect(entry.kind).toBe('credit_consumption');
    expect(entry.postings.map((p) => [p.account.kind, p.amount]).sort()).toEqual([
      ['credit_usage', 5n],
      ['credits', -5n],
    ]);
  });

  it('never goes negative: a use the balance cannot cover consumes nothing and is recorded as a shortfall', async () => {
    await onboardOrg(w, 'org-low', 6);
    const base = await processed();
    const first = incident('org-low');
    const second = incident('org-low');
    const small = validated('org-low');
    // One at a time: the consumers are separate groups, so a batch would interleave across them.
    await w.bus.publish([first]);
    await settle(base + 1);
    await w.bus.publish([second, second]);
    await settle(base + 2);
    await w.bus.publish([small]);
    await settle(base + 3);

    expect(await creditsBalance(w, 'org-low')).toBe(0n);
    const shortfalls = await w.svc.db.creditShortfall.findMany({ where: { ownerId: 'org-low' } });
    expect(shortfalls.map((s) => ({ id: s.sourceEventId, reason: s.reason, credits: s.credits, balance: s.balance }))).toEqual([
      { id: second.id, reason: 'incident_created', credits: 5n, balance: 1n },
    ]);
    expect(await w.svc.db.ledgerEntry.count({ where: { idempotencyKey: `credit_use:${second.id}` } })).toBe(0);
    expect((await getCredits(w, 'org-low')).body.data).toMatchObject({ balance: 0, lifetime_purchased: 6, lifetime_consumed: 6 });
  });

  it('charges nobody who never held credits (not on the credit plan)', async () => {
    const base = await processed();
    const state = await creditState(w);
    await w.bus.publish([webhookSent('acf-buyer'), validated('acf-buyer')]);
    await settle(base + 2);
    expect(await creditState(w)).toEqual(state);
    expect(await w.svc.db.ledgerAccount.count({ where: { ownerId: 'acf-buyer' } })).toBe(0);
  });

  /**
   * The bus hands one group's events over one at a time, but the three usage consumers are
   * separate groups, several replicas consume during a rebalance, and purchases land from HTTP:
   * consumption must hold under real concurrency. Here 1,000 events are handed to the real
   * consumers and their dedup all at once against one balance; as many run in the database at
   * once as the connection pool allows (the rest wait for a connection, as replicas would).
   */
  it('keeps 1,000 parallel consumptions of one balance exact and never negative; replays change nothing', async () => {
    const OWNER = 'org-race';
    const START = 700;
    await onboardOrg(w, OWNER, START);

    const db = w.svc.db;
    const ledger = ledgerRepository(db, { maxConcurrentTx: 8, maxQueuedTx: 5_000 });
    const credits = creditService({ ledger, events: walletEvents(w.svc.outbox), recordShortfall: creditPurchasesRepository(db).recordShortfall });
    const deps = { credits, pricing: { validate_call: 1, incident_created: 5, webhook_sent: 2 }, logger: createLogger('wallets-test', 'silent') };
    const consumers: Consumer<Db>[] = [runtimeValidatedConsumer(deps), runtimeIncidentConsumer(deps), webhookDeliveredConsumer(deps)];
    const handlers = new Map(consumers.flatMap((c) => c.types.map((t) => [t, idempotentHandler(db, `wallets.${c.name}`, (e, tx) => c.handle(e, tx, db))] as const)));
    // 9 of the pool's 10 connections: the outbox relay keeps one, and no transaction waits for a connection past its timeout.
    const pool = new Bulkhead(9, 10_000);
    const handle = (e: AnyEnvelope) => pool.run(() => handlers.get(e.type)!(e));

    const events: AnyEnvelope[] = [
      ...Array.from({ length: 800 }, () => validated(OWNER)),
      ...Array.from({ length: 100 }, () => incident(OWNER)),
      ...Array.from({ length: 100 }, () => webhookSent(OWNER)),
    ].sort(() => Math.random() - 0.5);
    const cost = (e: AnyEnvelope) => (e.type === 'runtime.validated' ? 1 : e.type === 'runtime.incident' ? 5 : 2);
    const demanded = events.reduce((s, e) => s + cost(e), 0);
    expect(demanded).toBeGreaterThan(START);

    await Promise.all(events.map(handle));

    const balance = await creditsBalance(w, OWNER);
    expect(balance).toBeGreaterThanOrEqual(0n);
    expect(await creditsPostingsSum(w, OWNER)).toBe(balance);
    const used = await db.ledgerEntry.findMany({ where: { kind: 'credit_consumption', metadata: { path: ['owner_id'], equals: OWNER } } });
    const short = await db.creditShortfall.findMany({ where: { ownerId: OWNER } });
    // Every event is either consumed in full or a shortfall, never both, never neither.
    expect(used.length + short.length).toBe(events.length);
    const usedIds = new Set(used.map((e) => (e.metadata as { event_id: string }).event_id));
    for (const s of short) expect(usedIds.has(s.sourceEventId)).toBe(false);
    const consumedTotal = used.reduce((s, e) => s + Number((e.metadata as { credits: number }).credits), 0);
    expect(BigInt(START - consumedTotal)).toBe(balance);
    // A shortfall is only recorded when the balance could not cover that use.
    for (const s of short) expect(s.balance < s.credits).toBe(true);
    // With uses of 1 credit still refused, the balance ended below the cheapest use that failed.
    expect(balance).toBeLessThan(BigInt(Math.min(...short.map((s) => Number(s.credits)))));
    expect(await db.outboxEvent.count({ where: { type: 'credits.consumed', subject: OWNER } })).toBe(used.length);
    expect((await getCredits(w, OWNER)).body.data).toMatchObject({ balance: Number(balance), lifetime_purchased: START, lifetime_consumed: consumedTotal });
    expect(await db.ledgerAccount.count({ where: { kind: 'credits', balance: { lt: 0n } } })).toBe(0);
    expect(await unbalancedEntries(db)).toBe(0);
    expect(await driftedAccounts(db)).toBe(0);

    const before = await creditState(w);
    await Promise.all(events.map(handle));
    expect(await creditState(w)).toEqual(before);
    expect(await creditsBalance(w, OWNER)).toBe(balance);
  });
});
