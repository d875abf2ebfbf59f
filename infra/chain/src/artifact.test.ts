import { compileContract } from './compile';
import { TEST_USDC } from './artifact';

/**
 * The committed artifact is what every chain deploys; this recompiles the Solidity source
 * with solc-js and fails when they differ (run `pnpm --filter @platform/chain compile`).
 */
describe('TestUSDC artifact', () => {
  jest.setTimeout(60_000);

  it('matches a fresh solc-js compile of contracts/TestUSDC.sol', () => {
    const fresh = compileContract('TestUSDC');
    expect(fresh.compiler).toBe(TEST_USDC.compiler);
    expect(fresh.abi).toEqual(TEST_USDC.abi);
    expect(fresh.bytecode).toBe(TEST_USDC.bytecode);
  });

  it('exposes ERC-20 and EIP-3009 with 6 decimals', () => {
    const names = (TEST_USDC.abi as { type: string; name?: string }[]).filter((e) => e.type === 'function').map((e) => e.name);
    for (const fn of ['transfer', 'transferFrom', 'approve', 'balanceOf', 'allowance', 'decimals', 'transferWithAuthorization', 'receiveWithAuthorization', 'cancelAuthorization', 'authorizationState', 'DOMAIN_SEPARATOR', 'eip712Domain']) {
      expect(names).toContain(fn);
    }
  });
});
