import { Wallet } from 'ethers';
import { deployTestUsdc, Deployment } from './deploy';
import { chainIdAt, LOCAL_CHAIN_ID, startHardhatNode } from './node';

export { TEST_USDC } from './artifact';
export type { Artifact } from './compile';
export { deployTestUsdc, hasCode, INITIAL_SUPPLY_MICROS } from './deploy';
export type { Deployment } from './deploy';
export { startHardhatNode, chainIdAt, rpc, LOCAL_CHAIN_ID } from './node';
export { freePort } from './ports';
export type { LocalNode, StartNodeOptions } from './node';

/** Where scripts/infra-chain.sh runs its node; tests reuse it when it answers. */
export const DEFAULT_LOCAL_RPC_URL = 'http://127.0.0.1:8545';

export interface TestChain extends Deployment {
  /** A fresh key that deployed the token and holds its supply (and 10,000 ETH). */
  treasuryPrivateKey: string;
  /** Whether this process started the node (and stop() ends it). */
  ownNode: boolean;
  stop(): Promise<void>;
}

/**
 * A chain for one test suite: the node at TEST_CHAIN_RPC_URL (default the one
 * scripts/infra-chain.sh runs) when it answers with chain id 31337, else a Hardhat node of
 * its own on a free port; and a freshly deployed token with a fresh treasury, so suites
 * sharing a node never share balances or nonces.
 */
export async function startTestChain(env: Record<string, string | undefined> = process.env): Promise<TestChain> {
  const shared = env.TEST_CHAIN_RPC_URL ?? DEFAULT_LOCAL_RPC_URL;
  const node = (await chainIdAt(shared)) === LOCAL_CHAIN_ID ? null : await startHardhatNode();
  const rpcUrl = node?.url ?? shared;
  try {
    const treasuryPrivateKey = Wallet.createRandom().privateKey;
    const deployment = await deployTestUsdc({ rpcUrl, treasuryPrivateKey });
    return { ...deployment, treasuryPrivateKey, ownNode: node !== null, stop: async () => node?.stop() };
  } catch (err) {
    await node?.stop();
    throw err;
  }
}
