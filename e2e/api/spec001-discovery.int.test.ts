import { startPlatform, TestPlatform } from '../support/platform';

jest.setTimeout(60_000);

/** Spec 001 "Discovery": the Agent Pay documents, public, through the gateway. */
describe('spec 001 discovery through the gateway', () => {
  let platform: TestPlatform;
  beforeAll(async () => {
    // Base mainnet: metering knows its USDC contract and x402 network name from the chain id.
    platform = await startPlatform('s001disc', { CHAIN_ID: '8453', PUBLIC_BASE_URL: 'https://api.agents.example' });
  });
  afterAll(() => platform?.stop());

  it('GET /.well-known/agent-pay.json: network, chain id, USDC contract, env var names and an example 402', async () => {
    const res = await fetch(`${platform.url}/.well-known/agent-pay.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const doc = (await res.json()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(doc.base_url).toBe('https://api.agents.example');
    expect(doc.network).toEqual({ name: 'base', caip2: 'eip155:8453', chain_id: 8453 });
    expect(doc.currency).toMatchObject({ symbol: 'USDC', contract_address: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913', decimals: 6 });
    expect(Object.keys(doc.environment_variables)).toEqual(['API_URL', 'API_KEY', 'INDIEGENT_AGENT_KEY', 'INDIEGENT_AGENT_ADDRESS']);
    expect(doc.headers.request).toHaveProperty('X-Agent-Wallet');
    expect(doc.headers.request).toHaveProperty('X-Session-Id');
    expect(doc.how_to_pay.map((m: { method: string }) => m.method)).toEqual(['prepaid_balance', 'session', 'external_fetch', 'x402']);
    expect(doc.how_to_get_paid.steps.length).toBeGreaterThan(0);

    const example = doc.example_402_response;
    expect(example.status).toBe(402);
    expect(example.body).toMatchObject({ x402Version: 1, accepts: [{ scheme: 'exact', network: 'base', asset: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913', maxAmountRequired: '50000' }] });
    const decoded = JSON.parse(Buffer.from(example.headers['PAYMENT-REQUIRED'], 'base64').toString('utf8'));
    expect(decoded).toEqual(example.payment_required_decoded);
    expect(decoded).toMatchObject({ x402Version: 2, accepts: [{ scheme: 'exact', network: 'eip155:8453', amount: '50000' }] });
  });

  it('GET /.well-known/agent-pay.md: the same facts for an AI reader', async () => {
    const res = await fetch(`${platform.url}/.well-known/agent-pay.md`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/markdown/);
    const md = await res.text();
    for (const fact of ['# Agent Pay', 'chain id **8453**', '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913', '`API_KEY`', '`X-Agent-Wallet`', 'HTTP/1.1 402 Payment Required', 'https://api.agents.example/.well-known/agent-pay.json']) {
      expect(md).toContain(fact);
    }
  });
});
