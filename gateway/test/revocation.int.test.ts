import { eventually } from '@platform/testing';
import { Stack, startStack, call, newBuyerKey } from './support';
import type { RunningGateway } from '../src';

describe('key revocation reaches every gateway replica through key.revoked', () => {
  let s: Stack;
  let replica: RunningGateway;

  beforeAll(async () => {
    // A cache TTL of an hour: only the event can explain a revoked key stopping within a second.
    s = await startStack('gw_revocation', { AUTH_CACHE_TTL_S: '3600' });
    replica = await s.gatewayWith({ AUTH_CACHE_TTL_S: '3600' });
  });
  afterAll(() => s.stop());

  it('subscribes each replica with its own consumer group', () => {
    expect(s.gateway.group).toMatch(/^gateway\.[^.]+.*\.\d+/);
    expect(replica.group).not.toBe(s.gateway.group);
  });

  it('serves warm verifications from the cache without calling identity', async () => {
    const key = await newBuyerKey(s.url, 'warm');
    const before = { ...s.gateway.verifier.stats };
    expect((await call(s.url, 'GET', '/api/v1/usage/me', { headers: { authorization: key.bearer } })).status).toBe(200);
    expect(s.gateway.verifier.stats.remote).toBe(before.remote + 1);
    for (let i = 0; i < 5; i++) expect((await call(s.url, 'GET', '/api/v1/usage/me', { headers: { authorization: key.bearer } })).status).toBe(200);
    expect(s.gateway.verifier.stats.remote).toBe(before.remote + 1);
    expect(s.gateway.verifier.stats.hits).toBe(before.hits + 5);
  });

  it('stops a revoked key within one second on every replica', async () => {
    const owner = `revoke-${Date.now()}`;
    const buyer = await newBuyerKey(s.url, owner);
    const prov = await call(s.url, 'POST', '/api/v1/keys', { body: { owner_id: owner, role: 'provider' }, headers: { authorization: buyer.bearer } });
    const provider = `Bearer ${prov.body.key_id}:${prov.body.secret}`;
    // Warm both replicas' caches.
    for (const g of [s.gateway, replica]) expect((await call(g.url, 'GET', '/api/v1/usage/me', { headers: { authorization: buyer.bearer } })).status).toBe(200);

    const revoked = await call(s.url, 'DELETE', `/api/v1/provider/keys/${buyer.key_id}`, { headers: { authorization: provider } });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toEqual({ status: 'revoked', key_id: buyer.key_id });

    for (const g of [s.gateway, replica]) {
      await eventually(async () => (await call(g.url, 'GET', '/api/v1/usage/me', { headers: { authorization: buyer.bearer } })).status === 401, 1_000, 20);
    }
    const res = await call(replica.url, 'GET', '/api/v1/usage/me', { headers: { authorization: buyer.bearer } });
    expect(res.body.detail).toBe('Invalid or revoked API key');
    // The provider key of the same owner is untouched.
    expect((await call(s.url, 'GET', '/api/v1/provider/keys', { headers: { authorization: provider } })).status).toBe(200);
  });
});
