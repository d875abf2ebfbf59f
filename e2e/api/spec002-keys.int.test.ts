import { startPlatform, client, bearer, ADMIN_KEY, TestPlatform } from '../support/platform';

jest.setTimeout(60_000);

/** Spec 002 "API Keys": every documented request, sent to the gateway as a client would. */
describe('spec 002 keys through the gateway', () => {
  let platform: TestPlatform;
  let api: ReturnType<typeof client>;
  beforeAll(async () => {
    platform = await startPlatform('s002keys');
    api = client(platform.url);
  });
  afterAll(() => platform?.stop());

  it('creates a buyer key with no auth, then a provider key with that key, then validates it', async () => {
    const buyer = await api.post('/api/v1/keys', { owner_id: 'my-agent', role: 'buyer' });
    expect(buyer.status).toBe(201);
    expect(buyer.body).toEqual({
      key_id: expect.stringMatching(/^acf_[A-Za-z0-9]{16}$/),
      secret: expect.stringMatching(/^sec_[A-Za-z0-9]{40}$/),
      role: 'buyer',
      rate_limit: 60,
      message: 'Save the secret — it cannot be retrieved again.',
    });

    const provider = await api.post('/api/v1/keys', { owner_id: 'my-agent', role: 'provider' }, bearer(`${buyer.body.key_id}:${buyer.body.secret}`));
    expect(provider.status).toBe(201);
    expect(provider.body).toMatchObject({ role: 'provider', rate_limit: 60 });

    const valid = await api.post('/api/v1/keys/validate', { key_id: provider.body.key_id, secret: provider.body.secret });
    expect(valid.status).toBe(200);
    expect(valid.body).toEqual({ valid: true, owner_id: 'my-agent', role: 'provider', rate_limit: 60 });
  });

  it('refuses a provider key for an anonymous caller and an admin key for a provider, changing nothing', async () => {
    const anonymous = await api.post('/api/v1/keys', { owner_id: 'someone', role: 'provider' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ detail: expect.any(String) });

    const admin = await api.post('/api/v1/keys', { owner_id: 'ops', role: 'provider' }, bearer(ADMIN_KEY));
    expect(admin.status).toBe(201);
    const escalate = await api.post('/api/v1/keys', { owner_id: 'ops', role: 'admin' }, bearer(`${admin.body.key_id}:${admin.body.secret}`));
    expect(escalate.status).toBe(403);
    expect(escalate.body).toMatchObject({ detail: expect.any(String) });
  });
});

describe('spec 002 provider keys through the gateway', () => {
  let platform: TestPlatform;
  let api: ReturnType<typeof client>;
  beforeAll(async () => {
    platform = await startPlatform('s002pkeys');
    api = client(platform.url);
  });
  afterAll(() => platform?.stop());

  const providerFor = async (owner: string) => {
    const k = await api.post('/api/v1/keys', { owner_id: owner, role: 'provider' }, bearer(ADMIN_KEY));
    expect(k.status).toBe(201);
    return `${k.body.key_id}:${k.body.secret}`;
  };

  it('lists my keys without secrets, in the documented shape', async () => {
    const mine = await providerFor('provider-a');
    const res = await api.get('/api/v1/provider/keys', bearer(mine));
    expect(res.status).toBe(200);
    expect(res.body.keys).toEqual([
      { key_id: mine.split(':')[0], role: 'provider', rate_limit: 60, wallet_address: null, created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), expires_at: null },
    ]);
    expect(JSON.stringify(res.body)).not.toContain('sec_');
  });

  it("revokes my own key (200 {status, key_id}), refuses another provider's (403 Not your key), and a revoked key stops working", async () => {
    const a = await providerFor('provider-b');
    const a2 = await api.post('/api/v1/keys', { owner_id: 'provider-b', role: 'provider' }, bearer(a));
    const other = await providerFor('provider-c');
    const a2Id = a2.body.key_id as string;

    const foreign = await api.delete(`/api/v1/provider/keys/${a2Id}`, bearer(other));
    expect(foreign.status).toBe(403);
    expect(foreign.body).toMatchObject({ detail: 'Not your key' });
    expect((await api.get('/api/v1/provider/keys', bearer(`${a2Id}:${a2.body.secret}`))).status).toBe(200);

    const revoked = await api.delete(`/api/v1/provider/keys/${a2Id}`, bearer(a));
    expect(revoked.status).toBe(200);
    expect(revoked.body).toEqual({ status: 'revoked', key_id: a2Id });
    // Revocation reaches the gateway's cache by event; well within a second here.
    const deadline = Date.now() + 1000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await api.get('/api/v1/provider/keys', bearer(`${a2Id}:${a2.body.secret}`))).status;
      if (status === 401) break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(status).toBe(401);
  });

  it('needs a provider key: a buyer key and no key are refused', async () => {
    const buyer = await api.post('/api/v1/keys', { owner_id: 'just-a-buyer' });
    expect((await api.get('/api/v1/provider/keys', bearer(`${buyer.body.key_id}:${buyer.body.secret}`))).status).toBe(403);
    expect((await api.get('/api/v1/provider/keys')).status).toBe(401);
  });
});
