import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { serviceToken } from '@platform/auth';
import { AnyEnvelope, createEnvelope } from '@platform/events';
import { eventually } from '@platform/testing';
import { startStandalone, Standalone, SERVICE_NAMES } from '../src';

jest.setTimeout(180_000);

/**
 * The one-process platform on a bare machine: every part answers, requests go through the
 * gateway to the services and their embedded databases, and everything written is still
 * there after a stop and a start on the same data folder.
 */
describe('standalone platform', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'standalone-test-'));
  // Only what a user would set; nothing from the test runner's environment leaks in.
  const env = { LOG_LEVEL: 'silent' };
  let platform: Standalone | undefined;
  let bearer = '';
  let agentId = '';

  afterAll(async () => {
    await platform?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const secretOf = (p: Standalone) => (JSON.parse(readFileSync(p.secretsFile, 'utf8')) as Record<string, string>).INTERNAL_TOKEN_SECRET;
  const internal = (p: Standalone) => ({ 'x-internal-principal': serviceToken('standalone-test', secretOf(p)) });
  const asBuyer = () => ({ 'content-type': 'application/json', authorization: `Bearer ${bearer}` });
  const observations = async (p: Standalone) => {
    const r = await fetch(`${p.services.reputation.url}/internal/observations/usage-standalone-1`, { headers: internal(p) });
    return (await r.json()) as { observed: boolean; count: number };
  };
  const called = createEnvelope('metering', 'service.called', 'svc-standalone', {
    usage_id: 'usage-standalone-1', service_id: 'svc-standalone', buyer_id: 'buyer-standalone', provider_id: 'provider-1',
    amount_micros: '50000', free_tier: false, payment_method: 'balance', status_code: 200, latency_ms: 7,
  }) as AnyEnvelope;

  it('starts the gateway and every service, each ready, on the shared in-process bus', async () => {
    platform = await startStandalone({ dataDir, basePort: 0, env });
    const p = platform;

    expect(Object.keys(p.services).sort()).toEqual([...SERVICE_NAMES].sort());
    expect((await fetch(`${p.url}/health`)).status).toBe(200);
    for (const s of Object.values(p.services)) {
      const ready = await fetch(`${s.url}/ready`);
      expect({ service: s.name, status: ready.status }).toEqual({ service: s.name, status: 200 });
      expect(s.database).toBe('embedded');
      expect(s.running.bus).toBe(p.bus);
    }
    // Generated once, readable by the owner only.
    expect(statSync(p.secretsFile).mode & 0o777).toBe(0o600);
    expect(p.warnings.join('\n')).toContain('OUTBOUND_ALLOW_HOSTS');
  });

  it('serves requests through the gateway and carries events between services', async () => {
    const p = platform!;
    const created = await fetch(`${p.url}/api/v1/keys`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ owner_id: 'buyer-standalone', role: 'buyer' }),
    });
    expect(created.status).toBe(201);
    const key = (await created.json()) as { key_id: string; secret: string };
    bearer = `${key.key_id}:${key.secret}`;

    const fund = await fetch(`${p.url}/dev/balance/fund`, { method: 'POST', headers: asBuyer(), body: JSON.stringify({ amount: '5.00' }) });
    expect(fund.status).toBe(200);
    expect(await fund.json()).toMatchObject({ owner_id: 'buyer-standalone', balance: '5.00', balance_micros: '5000000' });
    // Wallets staged balance.funded in its outbox; the relay published it onto the shared bus.
    await eventually(async () => (await p.services.wallets.running.outbox.pendingCount()) === 0);

    await p.bus!.publish([called]);
    await eventually(async () => (await observations(p)).count === 1);
  });

  it('runs an embedded chain with the test USDC and a faucet: wallet, faucet, fund, session, close', async () => {
    const p = platform!;
    expect(p.chain).toEqual({ rpcUrl: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/), usdcAddress: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/), embedded: true });
    const post = async (path: string, body: unknown) => {
      const r = await fetch(`${p.url}${path}`, { method: 'POST', headers: asBuyer(), body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as Record<string, any> }; // eslint-disable-line @typescript-eslint/no-explicit-any
    };
    const agent = await post('/agents', { name: 'Standalone Bot' });
    expect(agent.status).toBe(201);
    agentId = agent.body.id;
    const drip = await post('/dev/faucet', { address: agent.body.wallet_address, amount: '25000000' });
    expect(drip).toEqual({ status: 200, body: expect.objectContaining({ tx_hash: expect.stringMatching(/^0x[0-9a-f]{64}$/) }) });
    const funded = await post(`/agents/${agent.body.id}/fund`, { tx_hash: drip.body.tx_hash });
    expect(funded.body).toMatchObject({ funded: true, amount: '25000000', gas_sponsored: true });
    const session = await post('/sessions', { agent_wallet_id: agent.body.id, deposit_amount: 5 });
    expect(session.body.session).toMatchObject({ status: 'open', deposit_amount: 5000000 });
    const closed = await post(`/sessions/${session.body.session.id}/close`, {});
    expect(closed.body.session).toMatchObject({ status: 'closed', refunded: 5000000 });
  });

  it('keeps every database and the secrets across a stop and a start on the same folder', async () => {
    const secretBefore = secretOf(platform!);
    const usdcBefore = platform!.chain!.usdcAddress;
    await platform!.stop();
    platform = await startStandalone({ dataDir, basePort: 0, env });
    const p = platform;
    expect(secretOf(p)).toBe(secretBefore);

    // The chain too (its journal replayed): the agent still holds what the faucet gave it and the refund returned.
    expect(p.chainJournal).toEqual({ file: path.join(dataDir, 'chain', 'journal.jsonl'), replayed: expect.any(Number) });
    expect(p.chainJournal!.replayed).toBeGreaterThan(0);
    expect(p.chain!.usdcAddress).toBe(usdcBefore);
    const agent = await fetch(`${p.url}/agents/${agentId}`, { headers: asBuyer() });
    expect(await agent.json()).toMatchObject({ id: agentId, usdc_balance: '25000000' });

    // Identity still knows the key (and the pepper it was hashed with); wallets still holds the balance.
    const balance = await fetch(`${p.url}/dev/balance`, { headers: asBuyer() });
    expect(balance.status).toBe(200);
    expect(await balance.json()).toMatchObject({ owner_id: 'buyer-standalone', balance: '5.00' });

    // Redelivered after the restart: the consumer's dedup record survived too, so it counts once.
    await p.bus!.publish([called]);
    expect(await p.bus!.settle()).toBe(true);
    expect(await observations(p)).toEqual(expect.objectContaining({ observed: true, count: 1 }));
  });

  it('refuses a second platform on a data folder in use, leaving the first untouched', async () => {
    await expect(startStandalone({ dataDir, basePort: 0, env })).rejects.toThrow(/in use by another standalone platform/);
    expect((await fetch(`${platform!.url}/dev/balance`, { headers: asBuyer() })).status).toBe(200);
  });
});
