import { agentPayJson, agentPayMarkdown } from './agent-pay';
import { choosePayable, parsePaymentRequired } from './x402.protocol';

const settings = { publicBaseUrl: 'https://api.example.test', chainId: 8453, network: 'base', usdcAddress: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913' };

describe('agent-pay documents', () => {
  it('state the configured network, chain id and USDC contract', () => {
    const j = agentPayJson(settings);
    expect(j.network).toEqual({ name: 'base', caip2: 'eip155:8453', chain_id: 8453 });
    expect(j.currency).toMatchObject({ symbol: 'USDC', contract_address: settings.usdcAddress, decimals: 6 });
    expect(j.documents.markdown).toBe('https://api.example.test/.well-known/agent-pay.md');
    expect(Object.keys(j.environment_variables)).toEqual(['API_URL', 'API_KEY', 'INDIEGENT_AGENT_KEY', 'INDIEGENT_AGENT_ADDRESS']);
    expect(Object.keys(j.headers.request)).toEqual(expect.arrayContaining(['X-Agent-Wallet', 'X-Session-Id', 'Idempotency-Key', 'X-PAYMENT', 'PAYMENT-SIGNATURE']));
  });

  it('give an example 402 that an x402 client of this platform can read and pay, in both versions', () => {
    const e = agentPayJson(settings).example_402_response;
    const pay = { network: settings.network, chainId: settings.chainId, asset: settings.usdcAddress };
    const v2 = parsePaymentRequired({ status: e.status, headers: { 'payment-required': e.headers['PAYMENT-REQUIRED'] }, body: null });
    expect(v2.x402Version).toBe(2);
    expect(choosePayable(v2, pay)).toMatchObject({ amount: 50_000n, network: 'eip155:8453' });
    const v1 = parsePaymentRequired({ status: e.status, headers: {}, body: JSON.stringify(e.body) });
    expect(choosePayable(v1, pay)).toMatchObject({ amount: 50_000n, network: 'base', asset: settings.usdcAddress });
    expect(JSON.parse(Buffer.from(e.headers['PAYMENT-REQUIRED'], 'base64').toString())).toEqual(e.payment_required_decoded);
  });

  it('write the same facts in Markdown', () => {
    const md = agentPayMarkdown(settings);
    for (const fact of ['chain id **8453**', 'eip155:8453', settings.usdcAddress, '`INDIEGENT_AGENT_KEY`', '`X-Agent-Wallet`', 'HTTP/1.1 402 Payment Required', 'PAYMENT-REQUIRED: ey', '## How to get paid']) {
      expect(md).toContain(fact);
    }
  });
});
