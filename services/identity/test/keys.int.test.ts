import { startService } from '@platform/service';
import { createLogger } from '@platform/telemetry';
import { identityService, readConfig } from '../src';
import { Identity, startIdentity, call, asCaller, snapshot, stagedEvents, BOOTSTRAP, principalFor, serviceHeaders } from './support';

describe('spec 002 API keys', () => {
  let id: Identity;
  let adminHeaders: Record<string, string>;
  const admin = () => `${BOOTSTRAP.keyId}:${BOOTSTRAP.secret}`;

  beforeAll(async () => {
    id = await startIdentity('identity_keys');
    adminHeaders = await asCaller(id.url, admin());
  });
  afterAll(() => id.stop());

  async function buyerKey(owner: string) {
    const res = await call(id.url, 'POST', '/api/v1/keys', { owner_id: owner, role: 'buyer' });
    expect(res.status).toBe(201);
    return res.body as { key_id: string; secret: string; role: string; rate_limit: number };
  }

  describe('POST /api/v1/keys', () => {
    it('creates a buyer key without auth, answering the spec shape once', async () => {
      const res = await call(id.url, 'POST', '/api/v1/keys', { owner_id: 'my-agent', role: 'buyer' });
      expect(res.status).toBe(201);
      expect(Object.keys(res.body).sort()).toEqual(['key_id', 'message', 'rate_limit', 'role', 'secret']);
      expect(res.body.key_id).toMatch(/^acf_[A-Za-z0-9]{16}$/);
      expect(res.body.secret).toMatch(/^sec_[A-Za-z0-9]{40}$/);
      expect(res.body).toMatchObject({ role: 'buyer', rate_limit: 60, message: 'Save the secret — it cannot be retrieved again.' });

      const row = await id.svc.db.apiKey.findUniqueOrThrow({ where: { id: res.body.key_id } });
      expect(row.secretHash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(row)).not.toContain(res.body.secret.slice(4));
      const created = (await stagedEvents(id.svc.db, 'key.created')).find((e) => e.data.key_id === res.body.key_id);
      expect(created?.data).toEqual({ key_id: res.body.key_id, owner_id: 'my-agent', role: 'buyer', rate_limit: 60, family: 'acf' });
    });

    it('defaults role to buyer and keeps rate_limit and wallet_address', async () => {
      const res = await call(id.url, 'POST', '/api/v1/keys', { owner_id: 'wallet-owner', rate_limit: 120, wallet_address: '0x1234567890abcdef1234567890abcdef12345678' });
      expect(res.status).toBe(201);
      expect(res.body).toMatchObject({ role: 'buyer', rate_limit: 120 });
      const row = await id.svc.db.apiKey.findUniqueOrThrow({ where: { id: res.body.key_id } });
      expect(row.walletAddress).toBe('0x1234567890abcdef1234567890abcdef12345678');
    });

    it('refuses a provider key without auth and creates one for an authenticated caller of the same owner', async () => {
      const before = await snapshot(id.svc.db);
      const anon = await call(id.url, 'POST', '/api/v1/keys', { owner_id: 'prov-1', role: 'provider' });
      expect(anon.status).toBe(401);
      expect(anon.body.detail).toMatch(/authenticated/);
      expect(await snapshot(id.svc.db)).toEqual(before);

      const buyer = await buyerKey('prov-1');
      const headers = await asCaller(id.url, `${buyer.key_id}:${buyer.secret}`);
      const res = await call(id.url, 'POST', '/api/v1/keys', { owner_id: 'prov-1', role: 'provider' }, headers);
      expect(res.status).toBe(201);
      expect(res.body.role).toBe('provider');
    });

    it('refuses provider keys for another owner and buyer keys onto an owner that already has keys', async () => {
      const mine = await buyerKey('owner-a');
      await buyerKey('owner-b');
      const headers = await asCaller(id.url, `${mine.key_id}:${mine.secret}`);
      const before = await snapshot(id.svc.db);

      const other = await call(id.url, 'POST', '/api/v1/keys', { owner_id: 'owner-b', role: 'provider' }, headers);
      expect(other.status).toBe(403);
      const takeover = await call(id.url, 'POST', '/api/v1/keys', { owner_id: 'owner-b', role: 'buyer' });
      expect(takeover.status).toBe(403);
      expect(takeover.body.detail).toMatch(/already has keys/);
      const takeoverSigned = await call(id.url, 'POST', '/api/v1/keys', { owner_id: 'owner-b' }, headers);
      expect(takeoverSigned.status).toBe(403);
      expect(await snapshot(id.svc.db)).toEqual(before);

      // Acting as the owner, more keys are fine.
      const again = await call(id.url, 'POST', '/api/v1/keys', { owner_id: 'owner-a' }, headers);
      expect(again.status).toBe(201);
    });

    it('creates admin keys only for admin callers; the first admin comes from BOOTSTRAP_ADMIN_KEY', async () => {
      const buyer = await buyerKey('wannabe-admin');
      const headers = await asCaller(id.url, `${buyer.key_id}:${buyer.secret}`);
      const before = await snapshot(id.svc.db);
      expect((await call(id.url, 'POST', '/api/v1/keys', { owner_id: 'wannabe-admin', role: 'admin' }, headers)).status).toBe(403);
      expect((await call(id.url, 'POST', '/api/v1/keys', { owner_id: 'x-admin', role: 'admin' })).status).toBe(401);
      expect(await snapshot(id.svc.db)).toEqual(before);

      const res = await call(id.url, 'POST', '/api/v1/keys', { owner_id: 'ops', role: 'admin' }, adminHeaders);
      expect(res.status).toBe(201);
      expect(res.body.role).toBe('admin');
      // An admin may also issue keys for any owner, including one that already has keys.
      expect((await call(id.url, 'POST', '/api/v1/keys', { owner_id: 'owner-b', role: 'provider' }, adminHeaders)).status).toBe(201);
    });

    it('stores the bootstrap admin once, hashed', async () => {
      const row = await id.svc.db.apiKey.findUniqueOrThrow({ where: { id: BOOTSTRAP.keyId } });
      expect(row.role).toBe('admin');
      expect(row.secretHash).not.toContain(BOOTSTRAP.secret);
      // A second replica starting against the same database inserts nothing.
      const replica = await startService(identityService, readConfig(id.env), { inProcessBus: id.bus, logger: createLogger('identity', 'silent') });
      try {
        expect(await replica.db.apiKey.count({ where: { id: BOOTSTRAP.keyId } })).toBe(1);
        expect((await stagedEvents(replica.db, 'key.created')).filter((e) => e.data.key_id === BOOTSTRAP.keyId)).toHaveLength(1);
      } finally {
        await replica.stop();
      }
    });

    it.each([
      ['bad JSON', '{"owner_id": "x",'],
      ['missing owner_id', { role: 'buyer' }],
      ['owner_id of the wrong type', { owner_id: 42 }],
      ['rate_limit as a string', { owner_id: 'typed', rate_limit: '60' }],
      ['rate_limit above the cap', { owner_id: 'typed', rate_limit: 1_000_000 }],
      ['an oversize owner_id', { owner_id: 'o'.repeat(129) }],
      ['an owner_id with spaces', { owner_id: 'has space' }],
      ['an unknown role', { owner_id: 'roles', role: 'superuser' }],
      ['a malformed wallet', { owner_id: 'wallets', wallet_address: 'not-a-wallet' }],
      ['a JSON array', [1, 2]],
    ])('answers 400 {"detail"} for %s and changes nothing', async (_what, body) => {
      const before = await snapshot(id.svc.db);
      const res = await call(id.url, 'POST', '/api/v1/keys', body);
      expect(res.status).toBe(400);
      expect(typeof res.body.detail).toBe('string');
      expect(await snapshot(id.svc.db)).toEqual(before);
    });
  });

  describe('POST /api/v1/keys/validate', () => {
    it('answers the spec shape for a valid pair', async () => {
      const key = await buyerKey('validator');
      const res = await call(id.url, 'POST', '/api/v1/keys/validate', { key_id: key.key_id, secret: key.secret });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ valid: true, owner_id: 'validator', role: 'buyer', rate_limit: 60 });
    });

    it('answers 401 for a wrong secret, an unknown id or garbage, and 400 for wrong types', async () => {
      const key = await buyerKey('validator-2');
      for (const body of [
        { key_id: key.key_id, secret: `sec_${'x'.repeat(40)}` },
        { key_id: 'acf_0000000000000000', secret: key.secret },
        { key_id: 'nope', secret: 'nope' },
      ]) {
        const res = await call(id.url, 'POST', '/api/v1/keys/validate', body);
        expect(res.status).toBe(401);
        expect(res.body.detail).toBe('Invalid credentials');
      }
      expect((await call(id.url, 'POST', '/api/v1/keys/validate', { key_id: key.key_id })).status).toBe(400);
      expect((await call(id.url, 'POST', '/api/v1/keys/validate', { key_id: 1, secret: 2 })).status).toBe(400);
      expect((await call(id.url, 'POST', '/api/v1/keys/validate', { key_id: key.key_id, secret: 's'.repeat(129) })).status).toBe(400);
    });
  });

  describe('provider keys', () => {
    async function providerOf(owner: string) {
      const buyer = await buyerKey(owner);
      const buyerHeaders = await asCaller(id.url, `${buyer.key_id}:${buyer.secret}`);
      const prov = await call(id.url, 'POST', '/api/v1/keys', { owner_id: owner, role: 'provider' }, buyerHeaders);
      return { buyer, provider: prov.body, headers: await asCaller(id.url, `${prov.body.key_id}:${prov.body.secret}`) };
    }

    it('GET /api/v1/provider/keys lists only the caller\'s own keys, without secrets', async () => {
      const a = await providerOf('lister-a');
      await providerOf('lister-b');
      const res = await call(id.url, 'GET', '/api/v1/provider/keys', undefined, a.headers);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body)).toEqual(['keys']);
      expect(res.body.keys.map((k: { key_id: string }) => k.key_id).sort()).toEqual([a.buyer.key_id, a.provider.key_id].sort());
      for (const k of res.body.keys) {
        expect(Object.keys(k).sort()).toEqual(['created_at', 'expires_at', 'key_id', 'rate_limit', 'role', 'wallet_address']);
        expect(k.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        expect(k.expires_at).toBeNull();
      }
      expect(JSON.stringify(res.body)).not.toContain('sec_');

      const page = await call(id.url, 'GET', '/api/v1/provider/keys?limit=1&offset=1', undefined, a.headers);
      expect(page.body.keys).toHaveLength(1);
      expect((await call(id.url, 'GET', '/api/v1/provider/keys?limit=0', undefined, a.headers)).status).toBe(400);
    });

    it('requires a provider key', async () => {
      expect((await call(id.url, 'GET', '/api/v1/provider/keys')).status).toBe(401);
      const buyer = await buyerKey('just-a-buyer');
      const res = await call(id.url, 'GET', '/api/v1/provider/keys', undefined, await asCaller(id.url, `${buyer.key_id}:${buyer.secret}`));
      expect(res.status).toBe(403);
    });

    it('DELETE revokes the owner\'s key, refuses others with "Not your key", and the key stops working', async () => {
      const a = await providerOf('revoker-a');
      const b = await providerOf('revoker-b');
      const before = await snapshot(id.svc.db);
      const foreign = await call(id.url, 'DELETE', `/api/v1/provider/keys/${b.buyer.key_id}`, undefined, a.headers);
      expect(foreign.status).toBe(403);
      expect(foreign.body.detail).toBe('Not your key');
      expect((await call(id.url, 'DELETE', '/api/v1/provider/keys/acf_0000000000000000', undefined, a.headers)).status).toBe(404);
      expect(await snapshot(id.svc.db)).toEqual(before);

      const res = await call(id.url, 'DELETE', `/api/v1/provider/keys/${a.buyer.key_id}`, undefined, a.headers);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'revoked', key_id: a.buyer.key_id });
      const again = await call(id.url, 'DELETE', `/api/v1/provider/keys/${a.buyer.key_id}`, undefined, a.headers);
      expect(again.body).toEqual({ status: 'revoked', key_id: a.buyer.key_id });

      const revoked = (await stagedEvents(id.svc.db, 'key.revoked')).filter((e) => e.data.key_id === a.buyer.key_id);
      expect(revoked).toHaveLength(1);
      expect(revoked[0].data).toEqual({ key_id: a.buyer.key_id, owner_id: 'revoker-a', family: 'acf' });

      expect((await call(id.url, 'POST', '/api/v1/keys/validate', { key_id: a.buyer.key_id, secret: a.buyer.secret })).status).toBe(401);
      await expect(principalFor(id.url, `${a.buyer.key_id}:${a.buyer.secret}`)).rejects.toThrow(/401/);
      const listed = await call(id.url, 'GET', '/api/v1/provider/keys', undefined, a.headers);
      expect(listed.body.keys.map((k: { key_id: string }) => k.key_id)).toEqual([a.provider.key_id]);
    });
  });

  it('keeps /internal for services only', async () => {
    const buyer = await buyerKey('internal-probe');
    const asBuyer = await asCaller(id.url, `${buyer.key_id}:${buyer.secret}`);
    expect((await call(id.url, 'POST', '/internal/credentials/verify', { credential: admin() }, asBuyer)).status).toBe(403);
    expect((await call(id.url, 'POST', '/internal/credentials/verify', { credential: admin() })).status).toBe(403);
    expect((await call(id.url, 'POST', '/internal/credentials/verify', { credential: admin() }, serviceHeaders())).status).toBe(200);
  });
});
