import { Router } from 'express';
import { errorFamily, requireAuth, validate } from '@platform/http';
import type { ChainClient } from '../chain/chain.client';
import { onChain } from '../domain/chain-call';
import { FaucetBody } from './wallet-internal.schemas';

/** Gas sent with every faucet drip: 0.01 ETH, enough for a few hundred local transactions. */
const FAUCET_WEI = 10_000_000_000_000_000n;

/**
 * Standalone mode's development faucet (mounted only with DEV_FAUCET=true on chain 31337):
 * test USDC from the treasury and a little gas. An outside party, as far as the ledger is
 * concerned: the USDC enters the books when the agent records it with POST /agents/:id/fund.
 */
export function faucetRouter(deps: { chain: ChainClient }): Router {
  const r = Router();
  // Any authenticated caller, like the other /dev routes.
  r.use('/dev/faucet', errorFamily('detail'), requireAuth);
  r.post('/dev/faucet', validate({ body: FaucetBody }), async (req, res) => {
    const b = req.body as FaucetBody;
    const usdc = await onChain('send test USDC', () => deps.chain.sendTestUsdc(b.address, b.amount));
    const gasTxHash = await onChain('send test gas', () => deps.chain.sendEth(b.address, FAUCET_WEI));
    res.json({ tx_hash: usdc.txHash, address: b.address, amount: b.amount.toString(), gas_tx_hash: gasTxHash });
  });
  return r;
}
