import { createEnvelope, AnyEnvelope } from '@platform/events';
import { eventually } from '@platform/testing';
import { Wallets, startWallets, unbalancedEntries, driftedAccounts } from './helpers';

/** Spec 000: self-onboarding grants 100 free credits, once per organization. */
describe('wallets consumes agent.onboarded', () => {
  let w: Wallets;
  beforeAll(async () => {
    w = await startWallets();
  });
  afterAll(async () => {
    await w.stop();
  });

  const onboarded = (orgId: string, freeCredits = 100) =>
    createEnvelope('identity', 'agent.onboarded', orgId, {
      owner_id: orgId,
      org_id: orgId,
      project_id: `proj-${orgId}`,
      env_id: `env-${orgId}`,
      key_id: `key-${orgId}`,
      agent_identity: 'my-agent/1.0.0',
      free_credits: freeCredits,
    }) as AnyEnvelope;

  const credits = async (ownerId: string) =>
    (await w.svc.db.ledgerAccount.findUnique({ where: { ownerId_kind_currency: { ownerId, kind: 'credits', currency: 'CREDIT' } } }))?.balance;
  const processed = () => w.svc.db.processedEvent.count({ where: { consumer: 'wallets.agent-onboarded' } });

  it('grants the free credits once even when the event is delivered twice', async () => {
    const e = onboarded('org-1');
    await w.bus.publish([e, e]);
    await w.bus.publish([e]);
    await eventually(async () => (await credits('org-1')) === 100n);
    await eventually(async () => (await processed()) === 1);
    // Let any further delivery land before counting.
    await new Promise((r) => setTimeout(r, 200));

    expect(await credits('org-1')).toBe(100n);
    expect(await w.svc.db.ledgerEntry.count({ where: { kind: 'credit_grant' } })).toBe(1);
    const entry = await w.svc.db.ledgerEntry.findUniqueOrThrow({ where: { idempotencyKey: 'onboard:org-1' }, include: { postings: { include: { account: true } } } });
    expect(entry.postings.map((p) => [p.account.kind, p.account.currency, p.amount]).sort()).toEqual([
      ['credit_grants', 'CREDIT', -100n],
      ['credits', 'CREDIT', 100n],
    ]);

    const granted = await w.svc.db.outboxEvent.findMany({ where: { type: 'credits.granted' } });
    expect(granted.map((g) => (g.envelope as { data: unknown }).data)).toEqual([{ owner_id: 'org-1', credits: 100, reason: 'onboarding' }]);
    // Credits are their own currency: the prepaid USDC balance is untouched.
    expect(await w.svc.db.ledgerAccount.count({ where: { ownerId: 'org-1', currency: 'USDC' } })).toBe(0);
  });

  it('grants once per organization even when identity re-sends it as a new event', async () => {
    const before = await w.svc.db.outboxEvent.count({ where: { type: 'credits.granted' } });
    await w.bus.publish([onboarded('org-1')]);
    await eventually(async () => (await processed()) === 2);
    expect(await credits('org-1')).toBe(100n);
    expect(await w.svc.db.ledgerEntry.count({ where: { idempotencyKey: 'onboard:org-1' } })).toBe(1);
    expect(await w.svc.db.outboxEvent.count({ where: { type: 'credits.granted' } })).toBe(before);
  });

  it('grants nothing, and writes no entry, when free_credits is 0', async () => {
    await w.bus.publish([onboarded('org-zero', 0)]);
    await eventually(async () => (await processed()) === 3);
    expect(await credits('org-zero')).toBeUndefined();
    expect(await w.svc.db.ledgerEntry.count({ where: { idempotencyKey: 'onboard:org-zero' } })).toBe(0);
    expect(await unbalancedEntries(w.svc.db)).toBe(0);
    expect(await driftedAccounts(w.svc.db)).toBe(0);
  });
});
