import { ContractFactory, JsonRpcProvider, Wallet, parseEther, toBeHex } from 'ethers';
import { TEST_USDC } from './artifact';
import { LOCAL_CHAIN_ID } from './node';

/** What the treasury starts with on a local chain: 1,000,000,000 USDC in micro-USDC. */
export const INITIAL_SUPPLY_MICROS = 1_000_000_000_000_000n;
/** Gas money the deploy step gives the treasury on a local chain (hardhat_setBalance). */
const TREASURY_ETH = parseEther('10000');

export interface Deployment {
  chainId: number;
  rpcUrl: string;
  usdcAddress: string;
  treasuryAddress: string;
  deployTxHash: string;
}

/**
 * Deploys the test USDC from the treasury key, which becomes its minter and holds the initial
 * supply. On the local chain (31337) the treasury is first given ETH with hardhat_setBalance,
 * so any key works there; elsewhere it must already hold gas.
 */
export async function deployTestUsdc(opts: { rpcUrl: string; treasuryPrivateKey: string; initialSupplyMicros?: bigint }): Promise<Deployment> {
  const provider = new JsonRpcProvider(opts.rpcUrl, undefined, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
  try {
    const chainId = Number((await provider.getNetwork()).chainId);
    const treasury = new Wallet(opts.treasuryPrivateKey, provider);
    if (chainId === LOCAL_CHAIN_ID && (await provider.getBalance(treasury.address)) < TREASURY_ETH / 2n) {
      await provider.send('hardhat_setBalance', [treasury.address, toBeHex(TREASURY_ETH)]);
    }
    const factory = new ContractFactory(TEST_USDC.abi as never, TEST_USDC.bytecode, treasury);
    const contract = await factory.deploy(opts.initialSupplyMicros ?? INITIAL_SUPPLY_MICROS);
    const receipt = await contract.deploymentTransaction()!.wait();
    if (!receipt || receipt.status !== 1) throw new Error('the token deployment transaction failed');
    return { chainId, rpcUrl: opts.rpcUrl, usdcAddress: await contract.getAddress(), treasuryAddress: treasury.address, deployTxHash: receipt.hash };
  } finally {
    provider.destroy();
  }
}

/** Whether a contract exists at `address` (a restarted local node has forgotten earlier deployments). */
export async function hasCode(rpcUrl: string, address: string): Promise<boolean> {
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
  try {
    return (await provider.getCode(address)) !== '0x';
  } finally {
    provider.destroy();
  }
}
