import { Contract, JsonRpcProvider } from 'ethers';
import type { AuthorizationLedger } from '../domain/x402.service';

const ABI = ['function authorizationState(address authorizer, bytes32 nonce) view returns (bool)'];

/**
 * USDC's EIP-3009 `authorizationState(from, nonce)` on CHAIN_RPC_URL: whether an x402
 * authorization was used on chain. Read-only; metering holds no key. It settles the doubt
 * after a payment's answer was lost (a refused retry, an `unsettled` call).
 */
export function usdcAuthorizations(opts: { rpcUrl: string; usdcAddress: string; chainId: number }): AuthorizationLedger & { close(): void } {
  const provider = new JsonRpcProvider(opts.rpcUrl, opts.chainId, { staticNetwork: true, batchMaxCount: 1 });
  const usdc = new Contract(opts.usdcAddress, ABI, provider);
  return {
    isUsed: async (payer, nonce) => Boolean(await usdc.authorizationState(payer, nonce)),
    close: () => provider.destroy(),
  };
}
