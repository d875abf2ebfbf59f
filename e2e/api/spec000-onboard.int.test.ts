import { startPlatform, client, bearer, TestPlatform } from '../support/platform';
import { eventually } from '@platform/testing';

jest.setTimeout(60_000);

/** Spec 000 "POST /agent-onboard" and spec 003 "Register a Platform Agent", through the gateway. */
describe('agent self-provisioning through the gateway', () => {
  let platform: TestPlatform;
  let api: ReturnType<typeof client>;
  beforeAll(async () => {
    platform = await startPlatform('s000onb');
    api = client(platform.url);
  });
  afterAll(() => platform?.stop());

  it('spec 000: one request gives org, project, environment, a bks_live_ key, and 100 free credits', async () => {
    const res = await api.post('/agent-onboard', { agent_identity: 'my-agent/1.0.0', org_name: 'My Agent Org', project_name: 'default' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      ok: true,
      data: {
        api_key: expect.stringMatching(/^bks_live_[A-Za-z0-9]{40}$/),
        org_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        org_name: 'My Agent Org',
        project_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        project_slug: 'default',
        env_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        env_name: 'production',
        free_credits: 100,
        agent_identity: 'my-agent/1.0.0',
      },
      _links: { validate: `${platform.url}/validate`, runs: `${platform.url}/runs`, credits: `${platform.url}/agent-credits` },
    });
    // The credits arrive by event in the wallets service.
    const key = bearer(res.body.data.api_key);
    const credits = await eventually(async () => {
      const c = await api.get('/agent-credits', key);
      return c.status === 200 && c.body.data.balance === 100 ? c : undefined;
    }, 5_000);
    expect(credits.body).toMatchObject({ ok: true, data: { balance: 100 } });
  });

  it('spec 000: bad input answers in the {"ok": false} shape and creates nothing', async () => {
    const res = await api.post('/agent-onboard', { org_name: 'x'.repeat(1000) });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ ok: false, error: { code: expect.any(String), message: expect.stringContaining('agent_identity') } });
    const broken = await api.post('/agent-onboard', '{"agent_identity": ');
    expect(broken.status).toBe(400);
    expect(broken.body).toMatchObject({ ok: false });
  });

  it('spec 003: registers a platform agent with a one-time pa_ key that authenticates, and refuses a non-HTTPS callback', async () => {
    const res = await api.post('/api/v1/public/agents/register', {
      agent_name: 'security-scanner',
      capabilities: ['vulnerability_scan', 'code_review'],
      callback_url: 'https://my-system.example.com/webhooks/agent',
    });
    expect([200, 201]).toContain(res.status);
    expect(res.body).toEqual({ agent_id: expect.stringMatching(/^[0-9a-f-]{36}$/), api_key: expect.stringMatching(/^pa_/) });

    const self = await api.get(`/api/v1/agents/${res.body.agent_id}`, bearer(res.body.api_key));
    expect(self.status).toBe(200);
    expect(self.body).toMatchObject({ agent_id: res.body.agent_id });

    const plain = await api.post('/api/v1/public/agents/register', { agent_name: 'x', capabilities: [], callback_url: 'http://my-system.example.com/hook' });
    expect(plain.status).toBe(400);
    expect(JSON.stringify(plain.body.detail)).toContain('callback_url');
  });
});
