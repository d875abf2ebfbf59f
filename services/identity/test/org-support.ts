import { randomUUID } from 'node:crypto';
import { createEnvelope, EventData, EventType } from '@platform/events';
import type { Db } from '../src/db/client';
import { Identity, asCaller, call } from './support';
import { asUser, newUser as signUp } from './auth-support';

export interface TestUser {
  id: string;
  email: string;
  /** An ig_live_ key of this user (from `POST /api-keys`). */
  token: string;
  /** Gateway-signed principal headers for the user as identity sees them right now. */
  headers(): Promise<Record<string, string>>;
}

/**
 * A signed-in spec 001 user, made the documented way: `/auth/register`, `/auth/login` (a JWT),
 * then `POST /api-keys` for an ig_live_ key. Requests go with that key, and each asks identity
 * for a fresh principal, as a gateway with an empty cache would.
 */
export async function newUser(id: Identity, email = `u-${randomUUID().slice(0, 8)}@example.com`): Promise<TestUser> {
  const login = await signUp(id.url, email);
  const key = await call(id.url, 'POST', '/api-keys', { name: 'tests' }, asUser(login.token));
  if (key.status !== 201) throw new Error(`POST /api-keys: ${key.status} ${JSON.stringify(key.body)}`);
  const token = key.body.key as string;
  return { id: login.user.id, email, token, headers: () => asCaller(id.url, token) };
}

/** Calls identity as the user. */
export async function as(id: Identity, user: TestUser | Record<string, string>, method: string, path: string, body?: unknown) {
  const headers = 'headers' in user && typeof user.headers === 'function' ? await (user as TestUser).headers() : (user as Record<string, string>);
  return call(id.url, method, path, body, headers);
}

/** An organization whose members hold each role; `owner` created it. */
export async function newOrg(id: Identity, name = 'Acme AI Labs') {
  const owner = await newUser(id);
  const res = await as(id, owner, 'POST', '/org', { name });
  if (res.status !== 201) throw new Error(`POST /org: ${res.status} ${JSON.stringify(res.body)}`);
  const orgId = res.body.org.id as string;
  const join = async (role: string) => {
    const u = await newUser(id);
    await id.svc.db.orgMember.create({ data: { orgId, userId: u.id, role } });
    return u;
  };
  return { orgId, owner, admin: await join('admin'), member: await join('member'), viewer: await join('viewer'), join };
}

/** Row counts of everything organizations and departments touch, to show a refusal changed nothing. */
export async function orgSnapshot(db: Db) {
  return {
    orgs: await db.organization.count(),
    members: await db.orgMember.findMany({ orderBy: [{ orgId: 'asc' }, { userId: 'asc' }], select: { orgId: true, userId: true, role: true } }),
    invitations: await db.orgInvitation.findMany({ orderBy: { id: 'asc' } }),
    departments: await db.department.findMany({ orderBy: { id: 'asc' } }),
    agents: await db.agent.findMany({ orderBy: { id: 'asc' } }),
    outbox: await db.outboxEvent.count(),
  };
}

/** Delivers an event to identity's consumers as another service's relay would. */
export async function deliver<T extends EventType>(id: Identity, source: string, type: T, subject: string, data: EventData<T>) {
  const e = createEnvelope(source, type, subject, data);
  await id.bus.publish([e as never]);
  return e;
}
