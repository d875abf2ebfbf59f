import { readConfig } from './config';

const base = { DATABASE_URL: 'postgresql://127.0.0.1/metering', INTERNAL_TOKEN_SECRET: 'x'.repeat(32) };

describe('metering configuration', () => {
  it('derives the stale-call window from the timeouts and refuses one a live call could outlast', () => {
    expect(readConfig(base).PENDING_STALE_MS).toBe(2_000 + 30_000 + 60_000);
    expect(readConfig({ ...base, WALLETS_TIMEOUT_MS: '500', UPSTREAM_TIMEOUT_MS: '1000', PENDING_STALE_MS: '1600' }).PENDING_STALE_MS).toBe(1_600);
    expect(() => readConfig({ ...base, WALLETS_TIMEOUT_MS: '500', UPSTREAM_TIMEOUT_MS: '1000', PENDING_STALE_MS: '1500' })).toThrow(/PENDING_STALE_MS: must be more than/);
  });

  it('knows Base and Base Sepolia, and needs USDC_ADDRESS for any other chain', () => {
    expect(readConfig(base)).toMatchObject({ CHAIN_ID: 84532, X402_NETWORK: 'base-sepolia', USDC_ADDRESS: '0x036CbD53842c5426634e7929541eC2318f3dCF7e' });
    expect(readConfig({ ...base, CHAIN_ID: '8453', USDC_ADDRESS: '' })).toMatchObject({ X402_NETWORK: 'base', USDC_ADDRESS: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913' });
    expect(() => readConfig({ ...base, CHAIN_ID: '31337' })).toThrow(/USDC_ADDRESS: required for CHAIN_ID 31337/);
    const local = readConfig({ ...base, CHAIN_ID: '31337', USDC_ADDRESS: '0x5FbDB2315678afecb367f032d93F642f64180aa3' });
    expect(local).toMatchObject({ X402_NETWORK: 'eip155:31337', USDC_ADDRESS: '0x5FbDB2315678afecb367f032d93F642f64180aa3' });
    expect(() => readConfig({ ...base, USDC_ADDRESS: '0x123' })).toThrow(/USDC_ADDRESS/);
  });
});
