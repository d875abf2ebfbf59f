/**
 * The Agent Pay documents (spec 001 "Discovery"): GET /.well-known/agent-pay.json, the
 * machine-structured one (contract addresses, environment variable names, an example 402),
 * and GET /.well-known/agent-pay.md, the same facts written for an AI reader. Built once from
 * configuration; no I/O.
 */
export interface AgentPaySettings {
  publicBaseUrl: string;
  chainId: number;
  /** x402 v1 network name of chainId. */
  network: string;
  usdcAddress: string;
}

/** An address in the example 402 only: where a provider's own wallet address goes. */
const EXAMPLE_PAY_TO = '0x1111111111111111111111111111111111111111';
const EXAMPLE_PRICE_MICROS = '50000';

export function agentPayJson(s: AgentPaySettings) {
  const base = s.publicBaseUrl;
  const caip2 = `eip155:${s.chainId}`;
  const resource = `${base}/api/v1/proxy/{service_id}/analyze`;
  const v1Requirement = {
    scheme: 'exact',
    network: s.network,
    maxAmountRequired: EXAMPLE_PRICE_MICROS,
    resource,
    description: 'One call to the provider API (example price $0.05)',
    mimeType: 'application/json',
    payTo: EXAMPLE_PAY_TO,
    maxTimeoutSeconds: 60,
    asset: s.usdcAddress,
    extra: { name: 'USDC', version: '2' },
  };
  const v2Required = {
    x402Version: 2,
    error: 'PAYMENT-SIGNATURE header is required',
    resource: { url: resource, description: v1Requirement.description, mimeType: 'application/json' },
    accepts: [{ scheme: 'exact', network: caip2, amount: EXAMPLE_PRICE_MICROS, asset: s.usdcAddress, payTo: EXAMPLE_PAY_TO, maxTimeoutSeconds: 60, extra: { name: 'USDC', version: '2' } }],
  };

  return {
    agent_pay_version: '1',
    platform: 'Agent Commerce Platform',
    base_url: base,
    documents: {
      markdown: `${base}/.well-known/agent-pay.md`,
      json: `${base}/.well-known/agent-pay.json`,
      llms_txt: `${base}/llms.txt`,
      agents_json: `${base}/agents.json`,
    },
    network: { name: s.network, caip2, chain_id: s.chainId },
    currency: {
      symbol: 'USDC',
      contract_address: s.usdcAddress,
      decimals: 6,
      units: 'Amounts on the wire are integer strings of micro-USDC (6 decimals): "25000000" is $25.00. Proxy billing headers show dollars ("0.05").',
      authorization: 'EIP-3009 transferWithAuthorization (EIP-712 domain name "USDC", version "2")',
    },
    environment_variables: {
      API_URL: `Base URL of this platform (${base})`,
      API_KEY: 'Your API key, sent as Authorization: Bearer $API_KEY (acf_ key_id:secret, ig_live_, bks_live_ or pa_ keys) or X-API-Key',
      INDIEGENT_AGENT_KEY: "Private key of the agent's wallet, for self-hosted agents only (GET /agents/:id/env); keep it secret",
      INDIEGENT_AGENT_ADDRESS: "Address of the agent's wallet (GET /agents/:id/env); fund it with USDC on this network",
    },
    headers: {
      request: {
        Authorization: 'Bearer <API key> (or X-API-Key: <key>)',
        'X-Agent-Wallet': 'Agent wallet id or name to pay from (external fetch, session calls)',
        'X-Session-Id': 'Payment session to debit instead of paying per call on chain',
        'Idempotency-Key': 'Makes a paid call safe to retry: a repeat returns the first result and is not charged again',
        'X-Request-ID': 'Your request id; like Idempotency-Key when sent by you',
        'X-PAYMENT': 'x402 v1 payment (base64 JSON) when you pay a provider directly',
        'PAYMENT-SIGNATURE': 'x402 v2 payment (base64 JSON) when you pay a provider directly',
      },
      response: {
        'X-ACF-Usage-Id': 'Usage record of the call',
        'X-ACF-Amount': 'What the call cost, in dollars ("0.05"; "0" when free)',
        'X-ACF-Free-Tier': '"true" when the call was within the free tier',
        'X-ACF-Latency-Ms': "Provider's round-trip time",
        'X-ACF-Replayed': '"true" when the answer is the first result of a repeated Idempotency-Key / X-Request-ID',
        'X-PAYMENT-RESPONSE': 'x402 v1 settlement result (base64 JSON)',
        'PAYMENT-RESPONSE': 'x402 v2 settlement result (base64 JSON)',
      },
    },
    how_to_pay: [
      {
        method: 'prepaid_balance',
        steps: ['Get an API key: POST /api/v1/keys (buyer) or POST /agent-onboard', 'Call ANY /api/v1/proxy/{service_id}/{path} with the key', 'Each call is debited from your prepaid balance; the price is in X-ACF-Amount'],
        insufficient_funds: 'HTTP 402 {"detail": "Insufficient balance ..."}; nothing is forwarded or charged',
      },
      {
        method: 'session',
        steps: ['Open a payment session for an agent wallet: POST /sessions', 'Send X-Session-Id and X-Agent-Wallet with each call; each call is debited from the session instantly'],
      },
      {
        method: 'external_fetch',
        steps: ['POST /external/fetch {"url", "method", "headers", "body", "max_cost"} with X-Agent-Wallet', 'The platform pays the API (x402 or session) within max_cost and your wallet policy, and returns {"status", "headers", "body", "_indiegent": {"cost", ...}}'],
        errors: { '402': 'Budget too small', '422': 'The API charges more than max_cost' },
      },
      {
        method: 'x402',
        steps: [
          'Call the resource; it answers 402 with payment requirements (v1: JSON body "accepts"; v2: base64 PAYMENT-REQUIRED header)',
          `Pick the requirement with scheme "exact", network "${s.network}" (v2: "${caip2}") and asset ${s.usdcAddress}`,
          'Sign an EIP-3009 TransferWithAuthorization for exactly that amount to payTo, with a fresh 32-byte nonce',
          'Repeat the request with X-PAYMENT (v1) or PAYMENT-SIGNATURE (v2); read X-PAYMENT-RESPONSE / PAYMENT-RESPONSE',
          'If the retry times out, resend the same signed payment: its nonce can settle only once',
        ],
      },
    ],
    how_to_get_paid: {
      steps: [
        'Get a provider key: POST /api/v1/keys {"owner_id", "role": "provider"} with an authorised key',
        'Register your API: POST /api/v1/services {"name", "endpoint", "price_per_call", "free_tier_calls", ...}',
        'Buyers call it through /api/v1/proxy/{service_id}/...; every paid call is recorded and reported as service.called',
        'Earnings and settlements: GET /api/v1/provider/earnings, GET /api/v1/settlements',
        `Or protect your own API with x402: answer 402 with the requirements above (payTo = your wallet on ${s.network}) and link ${base}/.well-known/agent-pay.md`,
      ],
    },
    example_402_response: {
      status: 402,
      headers: { 'content-type': 'application/json', 'PAYMENT-REQUIRED': Buffer.from(JSON.stringify(v2Required)).toString('base64') },
      body: { x402Version: 1, error: 'X-PAYMENT header is required', accepts: [v1Requirement] },
      payment_required_decoded: v2Required,
    },
  };
}

export function agentPayMarkdown(s: AgentPaySettings): string {
  const j = agentPayJson(s);
  const list = (xs: string[]) => xs.map((x, i) => `${i + 1}. ${x}`).join('\n');
  const table = (o: Record<string, string>) => Object.entries(o).map(([k, v]) => `| \`${k}\` | ${v} |`).join('\n');
  return `# Agent Pay — ${j.platform}

How AI agents pay for APIs here, and how providers get paid. Machine-readable version: ${j.documents.json}

## Network and money

- Network: **${j.network.name}** (CAIP-2 \`${j.network.caip2}\`, chain id **${j.network.chain_id}**)
- Currency: **USDC**, contract \`${j.currency.contract_address}\`, ${j.currency.decimals} decimals
- ${j.currency.units}
- Authorization: ${j.currency.authorization}

## Environment variables

| variable | meaning |
|---|---|
${table(j.environment_variables)}

## Headers you send

| header | meaning |
|---|---|
${table(j.headers.request)}

## Headers you get back

| header | meaning |
|---|---|
${table(j.headers.response)}

## How to pay

${j.how_to_pay.map((m) => `### ${m.method}\n\n${list(m.steps)}`).join('\n\n')}

## How to get paid

${list(j.how_to_get_paid.steps)}

## Example 402 response

\`\`\`http
HTTP/1.1 402 Payment Required
Content-Type: application/json
PAYMENT-REQUIRED: ${j.example_402_response.headers['PAYMENT-REQUIRED']}

${JSON.stringify(j.example_402_response.body, null, 2)}
\`\`\`

The PAYMENT-REQUIRED header (x402 version 2) decodes to:

\`\`\`json
${JSON.stringify(j.example_402_response.payment_required_decoded, null, 2)}
\`\`\`
`;
}
