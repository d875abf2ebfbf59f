import { InProcessBus, createEnvelope, AnyEnvelope } from '@platform/events';
import { startService, RunningService } from '@platform/service';
import { freshDatabase, eventually, TEST_SECRET } from '@platform/testing';
import { createLogger } from '@platform/telemetry';
import { signPrincipal } from '@platform/auth';
import { runtimeService, readConfig } from '../src';
import type { Db } from '../src/db/client';

const registered = (agentId: string, ownerId: string, displayName = `Agent ${agentId}`) =>
  createEnvelope('identity', 'agent.registered', agentId, { agent_id: agentId, owner_id: ownerId, display_name: displayName, status: 'active' }) as AnyEnvelope;
const updated = (agentId: string, ownerId: string, status: string) =>
  createEnvelope('identity', 'agent.updated', agentId, { agent_id: agentId, owner_id: ownerId, display_name: `Agent ${agentId}`, status, verified: false }) as AnyEnvelope;

const as = (ownerId: string, kind: 'acf_key' | 'pa_key' | 'jwt' = 'acf_key') => ({
  'x-internal-principal': signPrincipal({ owner_id: ownerId, kind, key_id: 'k', roles: ['buyer'], org_id: null, rate_limit: 60 }, TEST_SECRET),
});

describe('runtime keeps an agents read model and lists a principal’s own agents', () => {
  let svc: RunningService<Db>;
  let drop: () => Promise<void>;
  const bus = new InProcessBus();
  const list = (headers: Record<string, string>, query = '') =>
    fetch(`${svc.url}/v1/agent/list${query}`, { headers }).then(async (r) => ({ status: r.status, body: (await r.json()) as any })); // eslint-disable-line @typescript-eslint/no-explicit-any

  beforeAll(async () => {
    const db = await freshDatabase('runtime');
    drop = db.drop;
    const config = readConfig({ DATABASE_URL: db.url, INTERNAL_TOKEN_SECRET: TEST_SECRET, PORT: '0', LOG_LEVEL: 'silent' });
    svc = await startService(runtimeService, config, { inProcessBus: bus, logger: createLogger('runtime', 'silent') });
  });
  afterAll(async () => {
    await svc.stop();
    await drop();
  });

  it('records each registration once, however often it is delivered', async () => {
    const a1 = registered('agent-1', 'owner-a', 'First');
    const a2 = registered('agent-2', 'owner-a', 'Second');
    const b1 = registered('agent-3', 'owner-b');
    await bus.publish([a1, a1, a2]);
    await bus.publish([b1, a1, a2]);
    await eventually(async () => (await svc.db.processedEvent.count()) === 3);
    await new Promise((r) => setTimeout(r, 100));
    expect(await svc.db.agent.count()).toBe(3);
    expect(await svc.db.agent.findUniqueOrThrow({ where: { agentId: 'agent-1' } })).toMatchObject({ ownerId: 'owner-a', displayName: 'First', status: 'active' });
  });

  it('lists only the caller’s own agents, in the spec-004-like shape', async () => {
    const r = await list(as('owner-a'));
    expect(r.status).toBe(200);
    expect(r.body.count).toBe(2);
    expect(r.body.agents.map((a: { id: string }) => a.id)).toEqual(['agent-1', 'agent-2']);
    expect(r.body.agents[0]).toEqual({
      id: 'agent-1',
      display_name: 'First',
      owner_id: 'owner-a',
      status: 'active',
      created_at: expect.stringMatching(/Z$/),
      updated_at: expect.stringMatching(/Z$/),
    });
    expect((await list(as('owner-b'))).body.agents.map((a: { id: string }) => a.id)).toEqual(['agent-3']);
    expect(await list(as('owner-c', 'jwt'))).toEqual({ status: 200, body: { agents: [], count: 0 } });
  });

  it('pages and filters by status, and keeps status current from agent.updated', async () => {
    const u = updated('agent-2', 'owner-a', 'deactivated');
    await bus.publish([u, u]);
    await eventually(async () => (await svc.db.agent.findUniqueOrThrow({ where: { agentId: 'agent-2' } })).status === 'deactivated');
    // A registration replayed after the update does not undo it.
    await bus.publish([registered('agent-2', 'owner-a', 'Second')]);
    await eventually(async () => (await svc.db.processedEvent.count()) === 5);
    expect((await svc.db.agent.findUniqueOrThrow({ where: { agentId: 'agent-2' } })).status).toBe('deactivated');

    expect((await list(as('owner-a'), '?status=active')).body.agents.map((a: { id: string }) => a.id)).toEqual(['agent-1']);
    expect((await list(as('owner-a'), '?limit=1&offset=1')).body).toMatchObject({ count: 1, agents: [{ id: 'agent-2', status: 'deactivated' }] });
    const bad = await list(as('owner-a'), '?limit=500');
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/limit/);
  });

  it('requires authentication', async () => {
    const r = await list({});
    expect(r.status).toBe(401);
    expect(typeof r.body.detail).toBe('string');
  });

  it('answers health, readiness and metrics', async () => {
    expect(((await fetch(`${svc.url}/health`).then((r) => r.json())) as { service: string }).service).toBe('runtime');
    expect((await fetch(`${svc.url}/ready`)).status).toBe(200);
    expect(await fetch(`${svc.url}/metrics`).then((r) => r.text())).toContain('http_request_duration_seconds');
  });
});
