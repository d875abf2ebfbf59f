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
