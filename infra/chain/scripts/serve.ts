/**
 * `pnpm --filter @platform/chain start` (the compose `chain` service): a Hardhat node on
 * CHAIN_HOST:CHAIN_PORT (default 127.0.0.1:8545) and, when TREASURY_PRIVATE_KEY is set, the
 * test USDC deployed from it; prints what wallets needs and runs until SIGTERM/SIGINT.
 */
import { deployTestUsdc, startHardhatNode } from '../src';

async function main() {
  const node = await startHardhatNode({ host: process.env.CHAIN_HOST ?? '127.0.0.1', port: Number(process.env.CHAIN_PORT ?? 8545) });
  console.log(`local chain (Hardhat, chain id 31337) at ${node.url}`);
  const key = process.env.TREASURY_PRIVATE_KEY;
  if (key) {
    const d = await deployTestUsdc({ rpcUrl: node.url, treasuryPrivateKey: key });
    console.log(`USDC_ADDRESS=${d.usdcAddress}  (treasury ${d.treasuryAddress})`);
  } else {
    console.log('TREASURY_PRIVATE_KEY is not set: no token deployed');
  }
  const stop = async () => {
    await node.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((err) => {
  console.error(`local chain failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
