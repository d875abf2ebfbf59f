import type { IncomingMessage } from 'node:http';
import type { Principal } from '@platform/auth';
import { CredentialVerifier, IdentityClient, Verification, credentialFrom } from './auth';

const principal = (keyId: string): Principal => ({ owner_id: 'o', kind: 'acf_key', key_id: keyId, roles: ['buyer'], org_id: null, rate_limit: 60, agent_id: null });

function fakeIdentity(answer: (c: string) => Verification | null) {
  const calls: string[] = [];
  let release: (() => void) | null = null;
  let gate: Promise<void> | null = null;
  const client: IdentityClient = {
    async verify(c) {
      calls.push(c);
      if (gate) await gate;
      return answer(c);
    },
  };
  return {
    client,
    calls,
    hold() {
      gate = new Promise((r) => (release = r));
    },
    release() {
      gate = null;
      release?.();
    },
  };
}

describe('CredentialVerifier', () => {
  let now = 1_000_000;
  const clock = () => now;
  const valid = (c: string) => (c.startsWith('good') ? { principal: principal(c.slice(5)), cache_ttl_s: 30 } : null);

  it('caches positive answers for the TTL, then asks again', async () => {
    const id = fakeIdentity(valid);
    const v = new CredentialVerifier(id.client, { ttlS: 30, clock });
    expect(await v.verify('good:k1')).toEqual(principal('k1'));
    expect(await v.verify('good:k1')).toEqual(principal('k1'));
    expect(id.calls).toHaveLength(1);
    expect(v.stats).toEqual({ hits: 1, remote: 1 });
    now += 30_001;
    await v.verify('good:k1');
    expect(id.calls).toHaveLength(2);
  });

  it('answers warm credentials synchronously (peek), and only those', async () => {
    const id = fakeIdentity(valid);
    const v = new CredentialVerifier(id.client, { ttlS: 30, clock });
    expect(v.peek('good:k5')).toBeUndefined();
    await v.verify('good:k5');
    expect(v.peek('good:k5')).toEqual(principal('k5'));
    expect(v.peek('bad')).toBeUndefined();
    expect(v.peek('')).toBeUndefined();
    v.invalidateKey('k5');
    expect(v.peek('good:k5')).toBeUndefined();
    await v.verify('good:k5');
    now += 30_001;
    expect(v.peek('good:k5')).toBeUndefined();
    expect(id.calls).toEqual(['good:k5', 'good:k5']);
  });

  it('honours a shorter TTL from identity and never caches refusals', async () => {
    const id = fakeIdentity((c) => (c === 'soon' ? { principal: principal('s'), cache_ttl_s: 0 } : null));
    const v = new CredentialVerifier(id.client, { ttlS: 30, clock });
    await v.verify('soon');
    await v.verify('soon');
    expect(await v.verify('bad')).toBeNull();
    expect(await v.verify('bad')).toBeNull();
    expect(id.calls).toEqual(['soon', 'soon', 'bad', 'bad']);
  });

  it('drops every cached verification of a revoked key', async () => {
    const id = fakeIdentity(valid);
    const v = new CredentialVerifier(id.client, { ttlS: 30, clock });
    await v.verify('good:k2');
    v.invalidateKey('k2');
    expect(v.size).toBe(0);
    await v.verify('good:k2');
    expect(id.calls).toHaveLength(2);
  });

  it('does not cache or trust an answer that was in flight when the revocation arrived', async () => {
    const id = fakeIdentity(valid);
    const v = new CredentialVerifier(id.client, { ttlS: 30, clock });
    id.hold();
    const pending = v.verify('good:k3');
    v.invalidateKey('k3');
    id.release();
    expect(await pending).toBeNull();
    expect(v.size).toBe(0);
  });

  it('shares one identity call among concurrent first requests', async () => {
    const id = fakeIdentity(valid);
    const v = new CredentialVerifier(id.client, { ttlS: 30, clock });
    id.hold();
    const all = Promise.all([v.verify('good:k4'), v.verify('good:k4'), v.verify('good:k4')]);
    id.release();
    expect((await all).every((p) => p?.key_id === 'k4')).toBe(true);
    expect(id.calls).toHaveLength(1);
  });

  it('refuses empty and oversize credentials without asking identity', async () => {
    const id = fakeIdentity(valid);
    const v = new CredentialVerifier(id.client, { ttlS: 30, clock });
    expect(await v.verify('')).toBeNull();
    expect(await v.verify('good:' + 'x'.repeat(2000))).toBeNull();
    expect(id.calls).toHaveLength(0);
  });
});

describe('credentialFrom', () => {
  const req = (headers: Record<string, string>, url = '/x') => ({ headers, url }) as unknown as IncomingMessage;
  it('reads Bearer, X-API-Key and the route query parameter, in that order', () => {
    expect(credentialFrom(req({ authorization: 'Bearer acf_x:sec_y' }))).toEqual({ credential: 'acf_x:sec_y' });
    expect(credentialFrom(req({ authorization: 'bearer   pa_abc ' }))).toEqual({ credential: 'pa_abc' });
    expect(credentialFrom(req({ 'x-api-key': 'ig_live_abc' }))).toEqual({ credential: 'ig_live_abc' });
    expect(credentialFrom(req({}, '/admin/dashboard?key=acf_x%3Asec_y'), 'key')).toEqual({ credential: 'acf_x:sec_y' });
    expect(credentialFrom(req({}, '/admin/dashboard?key=acf_x%3Asec_y'))).toBeNull();
    expect(credentialFrom(req({}))).toBeNull();
  });
  it('flags other authorization schemes as malformed', () => {
    expect(credentialFrom(req({ authorization: 'Basic dXNlcg==' }))).toHaveProperty('malformed');
    expect(credentialFrom(req({ authorization: 'Bearer a b' }))).toHaveProperty('malformed');
  });
});
