import { randomBytes } from 'node:crypto';
import { Contract, JsonRpcProvider, Wallet, parseEther, toBeHex } from 'ethers';
import { InProcessBus } from '@platform/events';
import { startService, RunningService } from '@platform/service';
import { freshDatabase, TEST_SECRET } from '@platform/testing';
import { createLogger } from '@platform/telemetry';
import { signPrincipal, Principal } from '@platform/auth';
import { startTestChain, TestChain } from '@platform/chain';
import { walletsService, readConfig } from '../src';
import type { Db } from '../src/db/client';

export { call, asService } from './helpers';

const TOKEN_ABI = [
  'function balanceOf(address) view returns (uint256)',
  'function transfer(address to, uint256 value) returns (bool)',
  'function approve(address spender, uint256 value) returns (bool)',
  'function allowance(address owner, address spender) view returns (uint256)',
  'function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r, bytes32 s)',
  'function authorizationState(address, bytes32) view returns (bool)',
];

export interface ChainWallets {
  svc: RunningService<Db>;
  url: string;
  bus: InProcessBus;
  chain: TestChain;
  provider: JsonRpcProvider;
  /** The test USDC as the treasury (holds the supply). */
  usdc: Contract;
  masterKey: string;
  /** A wallet of "the user": funded with USDC and ETH, sends fundings to agents. */
  newFunder(usdcMicros?: bigint): Promise<Wallet>;
  /** Sends USDC from `from` to `to` and answers the mined transaction hash. */
  send(from: Wallet, to: string, micros: bigint): Promise<string>;
  balanceOf(address: string): Promise<bigint>;
  stop(): Promise<void>;
}

/**
 * Wallets on a fresh PostgreSQL database and a real chain: the node scripts/infra-chain.sh
 * runs (or one of its own) with a freshly deployed token and treasury.
 */
export async function startWalletsOnChain(env: Record<string, string> = {}): Promise<ChainWallets> {
  const chain = await startTestChain();
  const db = await freshDatabase('wallets_chain');
  const bus = new InProcessBus();
  const masterKey = randomBytes(32).toString('hex');
  const config = readConfig({
    DATABASE_URL: db.url,
    INTERNAL_TOKEN_SECRET: TEST_SECRET,
    PORT: '0',
    LOG_LEVEL: process.env.WALLETS_TEST_LOG ?? 'silent',
    CHAIN_RPC_URL: chain.rpcUrl,
    CHAIN_ID: String(chain.chainId),
    USDC_ADDRESS: chain.usdcAddress,
    TREASURY_PRIVATE_KEY: chain.treasuryPrivateKey,
    WALLET_MASTER_KEY: masterKey,
    AUTO_TOPUP_INTERVAL_MS: '0',
    ...env,
  });
  const svc = await startService(walletsService, config, { inProcessBus: bus, logger: createLogger('wallets', process.env.WALLETS_TEST_LOG ?? 'silent') });
  const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 100 });
  const treasury = new Wallet(chain.treasuryPrivateKey, provider);
  const usdc = new Contract(chain.usdcAddress, TOKEN_ABI, treasury);
  // The treasury's sends go one at a time (nonces); the service sends from it too, so tests wait for each.
  const send = async (from: Wallet, to: string, micros: bigint) => {
    const tx = await (usdc.connect(from.connect(provider)) as Contract).transfer(to, micros);
    return (await tx.wait()).hash as string;
  };
  return {
    svc,
    url: svc.url,
    bus,
    chain,
    provider,
    usdc,
    masterKey,
    async newFunder(usdcMicros = 100_000_000n) {
      const w = new Wallet(Wallet.createRandom().privateKey, provider);
      await provider.send('hardhat_setBalance', [w.address, toBeHex(parseEther('1'))]);
      if (usdcMicros > 0n) await send(treasury, w.address, usdcMicros);
      return w;
    },
    send,
    balanceOf: async (address: string) => BigInt(await usdc.balanceOf(address)),
    async stop() {
      await svc.stop();
      await bus.close();
      provider.destroy();
      await chain.stop();
      await db.drop();
    },
  };
}

const tokens = new Map<string, string>();
/**
 * Headers a gateway would send for a spec 001 user (JWT or ig_ key): owner = user id; in an
 * organization, org_id and the role `org_<role>`.
 */
export function asUser(userId: string, org?: { id: string; role: 'owner' | 'admin' | 'member' | 'viewer' }): Record<string, string> {
  const k = `${userId}|${org?.id ?? ''}|${org?.role ?? ''}`;
  if (!tokens.has(k)) {
    const p: Principal = { owner_id: userId, kind: 'jwt', key_id: null, roles: org ? ['user', `org_${org.role}`] : ['user'], org_id: org?.id ?? null, rate_limit: 60 };
    tokens.set(k, signPrincipal(p, TEST_SECRET, 600));
  }
  return { 'x-internal-principal': tokens.get(k)! };
}

export const uniq = (p: string) => `${p}-${randomBytes(4).toString('hex')}`;
