import { createEnvelope, AnyEnvelope, EventType, EventData } from '@platform/events';
import { eventually, startStripeStandIn, StripeStandIn } from '@platform/testing';
import { signPrincipal, Principal } from '@platform/auth';
import { TEST_SECRET } from '@platform/testing';
import { Wallets, startWallets, call } from './helpers';

/** Wallets with Stripe's SDK pointed at a local stand-in, whose events go to wallets' /stripe/webhook. */
export async function startWalletsWithStripe(env: Record<string, string> = {}): Promise<{ w: Wallets; stripe: StripeStandIn; stop(): Promise<void> }> {
  const stripe = await startStripeStandIn();
  const w = await startWallets({ env: { ...stripe.env(), ...env } });
  stripe.webhookUrl = `${w.url}/stripe/webhook`;
  return {
    w,
    stripe,
    async stop() {
      await w.stop();
      await stripe.close();
    },
  };
}

/** Headers a gateway sends for the bks_live_ key of a self-onboarded org (spec 000): the org is the owner. */
export function asOrg(orgId: string): Record<string, string> {
  const p: Principal = { owner_id: orgId, kind: 'bks_key', key_id: `key-${orgId}`, roles: ['buyer'], org_id: orgId, rate_limit: 60 };
  return { 'x-internal-principal': signPrincipal(p, TEST_SECRET, 600) };
}

export const getCredits = (w: Wallets, orgId: string) => call(`${w.url}/agent-credits`, { headers: asOrg(orgId) });
export const buyCredits = (w: Wallets, orgId: string, body: unknown, idempotencyKey?: string) =>
  call(`${w.url}/agent-credits`, { body, headers: { ...asOrg(orgId), ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) } });

export const envelope = <T extends EventType>(source: string, type: T, subject: string, data: EventData<T>) => createEnvelope(source, type, subject, data) as AnyEnvelope;

/** Identity's agent.onboarded for `orgId`, as self-onboarding publishes it. */
export const onboarded = (orgId: string, freeCredits = 100) =>
  envelope('identity', 'agent.onboarded', orgId, {
    owner_id: orgId,
    org_id: orgId,
    project_id: `proj-${orgId}`,
    env_id: `env-${orgId}`,
    key_id: `key-${orgId}`,
    agent_identity: 'my-agent/1.0.0',
    free_credits: freeCredits,
  });

/** An onboarded org holding its free credits (the grant arrives as an event, like in production). */
export async function onboardOrg(w: Wallets, orgId: string, freeCredits = 100): Promise<void> {
  await w.bus.publish([onboarded(orgId, freeCredits)]);
  await eventually(async () => (await getCredits(w, orgId)).body?.data?.balance === freeCredits);
}

export async function creditsBalance(w: Wallets, ownerId: string): Promise<bigint> {
  const a = await w.svc.db.ledgerAccount.findUnique({ where: { ownerId_kind_currency: { ownerId, kind: 'credits', currency: 'CREDIT' } } });
  return a?.balance ?? 0n;
}

/** The sum of every posting ever made to the owner's credits account (what the cached balance must equal). */
export async function creditsPostingsSum(w: Wallets, ownerId: string): Promise<bigint> {
  const rows = await w.svc.db.$queryRawUnsafe<{ s: string }[]>(
    `SELECT COALESCE(SUM(p."amount"), 0)::text AS s FROM "ledger_postings" p JOIN "ledger_accounts" a ON a."id" = p."account_id"
     WHERE a."owner_id" = $1 AND a."kind" = 'credits'`,
    ownerId,
  );
  return BigInt(rows[0].s);
}

/** Everything a credit movement writes, to show that a refused or replayed request wrote nothing. */
export async function creditState(w: Wallets) {
  const db = w.svc.db;
  const [entries, postings, outbox, purchases, stripeEvents, shortfalls, customers] = await Promise.all([
    db.ledgerEntry.count(),
    db.ledgerPosting.count(),
    db.outboxEvent.count(),
    db.creditPurchase.count(),
    db.stripeEvent.count(),
    db.creditShortfall.count(),
    db.stripeCustomer.count(),
  ]);
  return { entries, postings, outbox, purchases, stripeEvents, shortfalls, customers };
}
