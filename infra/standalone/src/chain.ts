import { deployTestUsdc, startHardhatNode, LOCAL_CHAIN_ID } from '@platform/chain';
import type { Env } from './services';

export interface EmbeddedChain {
  rpcUrl: string;
  chainId: number;
  usdcAddress: string;
  treasuryAddress: string;
  stop(): Promise<void>;
}

/**
 * Standalone mode's chain when no CHAIN_RPC_URL is configured: a Hardhat 2 node (chain id
 * 31337, in memory) as a child process, and the test USDC deployed from the treasury key.
 * The chain starts empty on every start; the token lands at the same address each time,
 * because the treasury deploys it as its first transaction.
 */
export async function startEmbeddedChain(env: Env, treasuryPrivateKey: string): Promise<EmbeddedChain> {
  const port = env.STANDALONE_CHAIN_PORT ? Number(env.STANDALONE_CHAIN_PORT) : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`STANDALONE_CHAIN_PORT: "${env.STANDALONE_CHAIN_PORT}" is not a port number`);
  const node = await startHardhatNode({ port });
  try {
    const d = await deployTestUsdc({ rpcUrl: node.url, treasuryPrivateKey });
    return { rpcUrl: node.url, chainId: LOCAL_CHAIN_ID, usdcAddress: d.usdcAddress, treasuryAddress: d.treasuryAddress, stop: () => node.stop() };
  } catch (err) {
    await node.stop();
    throw err;
  }
}
