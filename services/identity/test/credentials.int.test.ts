import { SecretHasher, newIgKey } from '../src/domain/key-material';
import { Identity, startIdentity, call, serviceHeaders, principalFor, BOOTSTRAP, KEY_HASH_SECRET } from './support';

/** CONTRACTS "Identity <-> gateway": POST /internal/credentials/verify for every key family. */
describe('POST /internal/credentials/verify', () => {
  let id: Identity;
  const verify = (credential: unknown) => call(id.url, 'POST', '/internal/credentials/verify', { credential }, serviceHeaders());

  beforeAll(async () => {
    id = await startIdentity('identity_verify');
  });
  afterAll(() => id.stop());

  it('answers an acf_ key_id:secret with its principal and a cache TTL of 30 s', async () => {
    const res = await verify(`${BOOTSTRAP.keyId}:${BOOTSTRAP.secret}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      principal: { owner_id: 'platform-admin', kind: 'acf_key', key_id: BOOTSTRAP.keyId, roles: ['admin'], org_id: null, rate_limit: 600, agent_id: null },
      cache_ttl_s: 30,
    });
  });

  it('refuses unknown, malformed and JWT-shaped credentials with 401 {"detail"}', async () => {
    for (const c of [
      `${BOOTSTRAP.keyId}:sec_${'Z'.repeat(40)}`,
      `acf_0000000000000000:${BOOTSTRAP.secret}`,
      BOOTSTRAP.keyId,
      `bks_live_${'a'.repeat(40)}`,
      `pa_${'a'.repeat(40)}`,
      `ig_live_${'a'.repeat(40)}`,
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig',
      'garbage',
    ]) {
      const res = await verify(c);
      expect(res.status).toBe(401);
      expect(typeof res.body.detail).toBe('string');
    }
  });

  it('answers 400 for a missing, mistyped or oversize credential', async () => {
    expect((await call(id.url, 'POST', '/internal/credentials/verify', {}, serviceHeaders())).status).toBe(400);
    expect((await verify(42)).status).toBe(400);
    expect((await verify('x'.repeat(1025))).status).toBe(400);
  });

  it('refuses expired keys and shortens the TTL of keys about to expire', async () => {
    const res = await call(id.url, 'POST', '/api/v1/keys', { owner_id: 'expiring' });
    const cred = `${res.body.key_id}:${res.body.secret}`;
    await id.svc.db.apiKey.update({ where: { id: res.body.key_id }, data: { expiresAt: new Date(Date.now() + 10_000) } });
    const soon = await verify(cred);
    expect(soon.status).toBe(200);
    expect(soon.body.cache_ttl_s).toBeLessThanOrEqual(10);
    await id.svc.db.apiKey.update({ where: { id: res.body.key_id }, data: { expiresAt: new Date(Date.now() - 1_000) } });
    expect((await verify(cred)).status).toBe(401);
    expect((await call(id.url, 'POST', '/api/v1/keys/validate', { key_id: res.body.key_id, secret: res.body.secret })).status).toBe(401);
  });

  it('answers ig_live_ / ig_test_ keys with the user and their org (spec 001 families)', async () => {
    const hasher = new SecretHasher(KEY_HASH_SECRET);
    const user = await id.svc.db.user.create({ data: { email: 'dev@example.com' } });
    const org = await id.svc.db.organization.create({ data: { name: 'Acme AI Labs', ownerUserId: user.id } });
    await id.svc.db.orgMember.create({ data: { orgId: org.id, userId: user.id, role: 'owner' } });
    const live = newIgKey('live');
    const test = newIgKey('test');
    for (const [token, keyId] of [[live, 'ig-live-1'], [test, 'ig-test-1']]) {
      await id.svc.db.apiKey.create({
        data: { id: keyId, family: 'ig', secretHash: hasher.hash(token), prefix: token.slice(0, 12), ownerId: user.id, role: 'user', rateLimit: 60, name: 'CI/CD Pipeline' },
      });
    }
    expect(await principalFor(id.url, live)).toEqual({ owner_id: user.id, kind: 'ig_key', key_id: 'ig-live-1', roles: ['user', 'org_owner'], org_id: org.id, rate_limit: 60, agent_id: null });
    expect((await principalFor(id.url, test)).key_id).toBe('ig-test-1');
    await id.svc.db.apiKey.update({ where: { id: 'ig-live-1' }, data: { revokedAt: new Date() } });
    expect((await verify(live)).status).toBe(401);
  });

  it('keeps every model of the schema reachable through the client (migration matches schema.prisma)', async () => {
    const db = id.svc.db;
    const user = await db.user.create({ data: { email: 'schema@example.com', passwordHash: 'x', walletAddress: '0xabc' } });
    const org = await db.organization.create({ data: { name: 'Schema Org', agentIdentity: 'schema/1' } });
    await db.orgMember.create({ data: { orgId: org.id, userId: user.id, role: 'viewer' } });
    const project = await db.project.create({ data: { orgId: org.id, name: 'P', slug: 'p' } });
    const env = await db.environment.create({ data: { projectId: project.id, name: 'production' } });
    const agent = await db.agent.create({ data: { id: crypto.randomUUID(), ownerId: 'o', displayName: 'A', metadata: { a: 1 }, walletAddress: '0x1' } });
    await db.apiKey.create({
      data: { id: 'schema-key', family: 'bks', secretHash: 'f'.repeat(64), prefix: 'bks_live_abcd', ownerId: org.id, role: 'buyer', rateLimit: 60, orgId: org.id, envId: env.id, agentId: agent.id, walletAddress: null, name: 'n', expiresAt: null },
    });
    await db.processedEvent.create({ data: { eventId: crypto.randomUUID(), consumer: 'schema-test' } });
    expect(await db.outboxEvent.count()).toBeGreaterThan(0);
    const full = await db.organization.findUniqueOrThrow({ where: { id: org.id }, include: { members: true, projects: { include: { environments: { include: { keys: true } } } }, keys: true } });
    expect(full.projects[0].environments[0].keys[0].id).toBe('schema-key');
    expect(full.members[0].role).toBe('viewer');
    expect((await db.agent.findUniqueOrThrow({ where: { id: agent.id }, include: { keys: true } })).keys).toHaveLength(1);
    expect((await db.agent.findUniqueOrThrow({ where: { id: agent.id } })).capabilities).toEqual([]);
  });
});
