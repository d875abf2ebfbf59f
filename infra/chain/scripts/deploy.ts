/**
 * Deploys the test USDC to CHAIN_RPC_URL from TREASURY_PRIVATE_KEY and writes the deployment
 * (chain id, RPC URL, token and treasury addresses) as JSON to DEPLOYMENT_FILE, where
 * scripts and services read USDC_ADDRESS. With REUSE=true an existing deployment whose token
 * still has code on that chain is kept (a restarted Hardhat node has forgotten it).
 *   CHAIN_RPC_URL=http://127.0.0.1:8545 TREASURY_PRIVATE_KEY=0x… DEPLOYMENT_FILE=.data/chain/deployment.json tsx infra/chain/scripts/deploy.ts
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { deployTestUsdc, hasCode, Deployment } from '../src';

async function main() {
  const rpcUrl = process.env.CHAIN_RPC_URL;
  const key = process.env.TREASURY_PRIVATE_KEY;
  const file = process.env.DEPLOYMENT_FILE;
  if (!rpcUrl || !key || !file) throw new Error('CHAIN_RPC_URL, TREASURY_PRIVATE_KEY and DEPLOYMENT_FILE must be set');
  if (process.env.REUSE === 'true' && existsSync(file)) {
    const previous = JSON.parse(readFileSync(file, 'utf8')) as Deployment;
    if (previous.rpcUrl === rpcUrl && (await hasCode(rpcUrl, previous.usdcAddress))) {
      console.log(`test USDC already deployed at ${previous.usdcAddress} on ${rpcUrl}`);
      return;
    }
  }
  const d = await deployTestUsdc({ rpcUrl, treasuryPrivateKey: key });
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(d, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
  console.log(`test USDC deployed at ${d.usdcAddress} on ${rpcUrl} (chain ${d.chainId}); treasury ${d.treasuryAddress}; written to ${file}`);
}

main().catch((err) => {
  console.error(`deploy failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
