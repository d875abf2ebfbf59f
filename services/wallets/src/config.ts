import { z } from 'zod';
import { loadConfig, serviceBaseSchema, port, bool, csv, ConfigError } from '@platform/config';
import { DEFAULT_CREDIT_PACKS, parseCreditPacks } from './domain/credit-packs';
import { CdpKeyError, parseCdpKeySecret } from './clients/cdp-jwt';

/** An empty variable is "not set" (docker-compose writes `${STRIPE_SECRET_KEY:-}` as ""). */
const optionalSecret = z.preprocess((v) => (v === '' ? undefined : v), z.string().min(8, 'is too short to be a Stripe secret').optional());

/**
 * Credits and Stripe (spec 000). Without STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET credit
 * purchases are off (POST /agent-credits answers 503); balances, grants and consumption work.
 */
const creditsConfig = {
  /** `sk_…`: Stripe's API key. */
  STRIPE_SECRET_KEY: optionalSecret,
  /** `whsec_…`: the signing secret of the /stripe/webhook endpoint registered at Stripe. */
  STRIPE_WEBHOOK_SECRET: optionalSecret,
  /** Where Stripe's SDK sends requests; a local stand-in in tests (http://127.0.0.1:<port>). */
  STRIPE_API_BASE: z.string().url().default('https://api.stripe.com'),
  STRIPE_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(120_000).default(20_000),
  /** `id:credits:price_usd,…`; spec 000's packs by default. */
  CREDIT_PACKS: z
    .string()
    .default(DEFAULT_CREDIT_PACKS)
    .transform((text, ctx) => {
      const r = parseCreditPacks(text);
      if ('error' in r) {
        ctx.addIssue({ code: 'custom', message: r.error });
        return z.NEVER;
      }
      return r.packs;
    }),
  /** Credits one use costs (spec 000: validate 1, incident 5, webhook 2). */
  CREDIT_COST_VALIDATE_CALL: z.coerce.number().int().min(0).max(1_000_000).default(1),
  CREDIT_COST_INCIDENT_CREATED: z.coerce.number().int().min(0).max(1_000_000).default(5),
  CREDIT_COST_WEBHOOK_SENT: z.coerce.number().int().min(0).max(1_000_000).default(2),
  /** Where Checkout sends the human afterwards; Stripe fills in {CHECKOUT_SESSION_ID}. */
  CREDITS_SUCCESS_URL: z.string().url().default('http://localhost:8000/?credits=paid&session_id={CHECKOUT_SESSION_ID}'),
  CREDITS_CANCEL_URL: z.string().url().default('http://localhost:8000/?credits=cancelled'),
  /** How long a payment_url stays payable (Stripe allows 30 minutes to 24 hours). */
  CREDITS_CHECKOUT_EXPIRES_MIN: z.coerce.number().int().min(30).max(1_440).default(60),
};

/** Both Stripe secrets or neither: a key without the webhook secret could charge but never complete a Checkout. */
function checkStripe<C extends { STRIPE_SECRET_KEY?: string; STRIPE_WEBHOOK_SECRET?: string }>(c: C): C {
  if (c.STRIPE_SECRET_KEY && !c.STRIPE_WEBHOOK_SECRET) throw new ConfigError('invalid configuration:\n  STRIPE_WEBHOOK_SECRET: required when STRIPE_SECRET_KEY is set');
  if (c.STRIPE_WEBHOOK_SECRET && !c.STRIPE_SECRET_KEY) throw new ConfigError('invalid configuration:\n  STRIPE_SECRET_KEY: required when STRIPE_WEBHOOK_SECRET is set');
  return c;
}

/** An empty variable is "not set" here too (docker-compose writes `${CHAIN_RPC_URL:-}` as ""). */
const unsetIfEmpty = <T extends z.ZodType>(t: T) => z.preprocess((v) => (v === '' ? undefined : v), t.optional());
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be an address: 0x and 40 hex characters');

/**
 * Agent wallets, payment sessions and the chain (spec 001). Without CHAIN_RPC_URL these routes
 * answer 503; the ledger, balances and credits work without a chain.
 */
const chainConfig = {
  /** JSON-RPC endpoint of the EVM chain (a local Hardhat node in tests and standalone mode). */
  CHAIN_RPC_URL: unsetIfEmpty(z.string().url()),
  /** 31337 for the local Hardhat chain, 8453 Base, 84532 Base Sepolia. */
  CHAIN_ID: z.coerce.number().int().positive().default(31337),
  /** The USDC (6-decimal, EIP-3009) token contract. */
  USDC_ADDRESS: unsetIfEmpty(address),
  /** The EIP-712 domain USDC signs authorizations under ("USD Coin"/"2" on Base mainnet and the local token). */
  USDC_EIP712_NAME: z.string().min(1).default('USD Coin'),
  USDC_EIP712_VERSION: z.string().min(1).default('2'),
  /** The platform treasury: receives session deposits, pays refunds and relays authorizations, sponsors gas. */
  TREASURY_PRIVATE_KEY: unsetIfEmpty(z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'must be 0x and 64 hex characters')),
  /** AES-256-GCM key encrypting agent private keys at rest: 32 bytes as 64 hex characters. */
  WALLET_MASTER_KEY: unsetIfEmpty(z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be 32 bytes as 64 hex characters')),
  /** Blocks a funding transaction must have (1 = mined). */
  CHAIN_CONFIRMATIONS: z.coerce.number().int().min(1).max(64).default(1),
  /** How long a platform-sent transaction may take to be mined. */
  CHAIN_TX_TIMEOUT_MS: z.coerce.number().int().min(1_000).max(600_000).default(60_000),
  /** ETH sent to an agent on its first funding (spec 001 gas sponsorship), in gwei: 5,000,000 = 0.005 ETH. */
  GAS_SPONSOR_GWEI: z.coerce.number().int().min(0).max(1_000_000_000).default(5_000_000),
  /** How often agents under their auto top-up threshold are checked; 0 = only after their own outflows. */
  AUTO_TOPUP_INTERVAL_MS: z.coerce.number().int().min(0).max(86_400_000).default(60_000),
  /** The on-ramp provider's session-token API (Coinbase Onramp shape); unset = POST /agents/:id/onramp answers 503. */
  ONRAMP_API_URL: unsetIfEmpty(z.string().url()),
  /** `cdp_jwt` (Coinbase's CDP API-key JWT per request) or `bearer` (ONRAMP_API_KEY as is); default cdp_jwt when ONRAMP_API_KEY_SECRET is set. */
  ONRAMP_AUTH: unsetIfEmpty(z.enum(['bearer', 'cdp_jwt'])),
  /** bearer mode: a fixed token; none sent when unset. */
  ONRAMP_API_KEY: unsetIfEmpty(z.string().min(1)),
  /** cdp_jwt mode: the CDP API key id (a UUID, or the legacy `organizations/…/apiKeys/…` name): the JWT's kid and sub. */
  ONRAMP_API_KEY_NAME: unsetIfEmpty(z.string().min(1).max(300)),
  /** cdp_jwt mode: the CDP API key secret, a PEM EC P-256 private key (ES256) or CDP's base64 Ed25519 key (EdDSA). */
  ONRAMP_API_KEY_SECRET: unsetIfEmpty(z.string().min(1)),
  /** The hosted buy page the session token opens. */
  ONRAMP_PAY_URL: z.string().url().default('https://pay.coinbase.com/buy/select-asset'),
  ONRAMP_NETWORK: z.string().min(1).default('base'),
  ONRAMP_TIMEOUT_MS: z.coerce.number().int().min(500).max(60_000).default(10_000),
  /** Addresses the on-ramp provider sends purchased USDC from: a funding from one is recorded as type `onramp`. */
  ONRAMP_SENDER_ADDRESSES: csv.pipe(z.array(address)),
  /** Mounts POST /dev/faucet (test USDC and gas from the treasury). Standalone mode only; refused unless CHAIN_ID is 31337. */
  DEV_FAUCET: bool(false),
};

/**
 * CHAIN_RPC_URL switches agent wallets on and then needs the other three; without it they are
 * ignored (standalone generates the secrets whether or not a chain runs).
 */
function checkChain<C extends { CHAIN_RPC_URL?: string; USDC_ADDRESS?: string; TREASURY_PRIVATE_KEY?: string; WALLET_MASTER_KEY?: string; CHAIN_ID: number; DEV_FAUCET: boolean }>(c: C): C {
  const missing = (['USDC_ADDRESS', 'TREASURY_PRIVATE_KEY', 'WALLET_MASTER_KEY'] as const).filter((n) => !c[n]);
  if (c.CHAIN_RPC_URL && missing.length) {
    throw new ConfigError(`invalid configuration:\n${missing.map((n) => `  ${n}: required when CHAIN_RPC_URL is set`).join('\n')}`);
  }
  if (c.DEV_FAUCET && c.CHAIN_ID !== 31337) throw new ConfigError('invalid configuration:\n  DEV_FAUCET: only allowed on the local chain (CHAIN_ID=31337)');
  return c;
}

/**
 * Resolves the on-ramp's authentication mode and reads the CDP key at boot, so a key CDP could
 * never verify fails with the variable's name instead of a 502 on the first on-ramp request.
 * Messages name the variable and the problem, never the secret.
 */
function checkOnramp<C extends { ONRAMP_AUTH?: 'bearer' | 'cdp_jwt'; ONRAMP_API_KEY_NAME?: string; ONRAMP_API_KEY_SECRET?: string }>(c: C): C & { ONRAMP_AUTH: 'bearer' | 'cdp_jwt' } {
  const mode = c.ONRAMP_AUTH ?? (c.ONRAMP_API_KEY_SECRET ? 'cdp_jwt' : 'bearer');
  if (mode === 'cdp_jwt') {
    const missing = (['ONRAMP_API_KEY_NAME', 'ONRAMP_API_KEY_SECRET'] as const).filter((n) => !c[n]);
    if (missing.length) throw new ConfigError(`invalid configuration:\n${missing.map((n) => `  ${n}: required when ONRAMP_AUTH is cdp_jwt`).join('\n')}`);
    try {
      parseCdpKeySecret(c.ONRAMP_API_KEY_SECRET!);
    } catch (err) {
      if (err instanceof CdpKeyError) throw new ConfigError(`invalid configuration:\n  ONRAMP_API_KEY_SECRET: ${err.message}`);
      throw err;
    }
  }
  return { ...c, ONRAMP_AUTH: mode };
}

export const configSchema = serviceBaseSchema.extend({
  PORT: port(8102),
  /** Mounts /dev/balance and /dev/balance/fund (self-funding without a chain). Never in production. */
  DEV_ROUTES: bool(false),
  /** Ledger transactions run at once; keep below the Prisma pool (PG_POOL_MAX, default 10). */
  LEDGER_TX_CONCURRENCY: z.coerce.number().int().min(1).max(200).default(8),
  /** Ledger transactions that may wait for a slot; past this a movement is refused with 503. */
  LEDGER_TX_QUEUE: z.coerce.number().int().min(0).max(100_000).default(5_000),
  /** Connections of the per-call debit statements' own pg pool; 0: through Prisma's (standalone's one-connection databases). */
  LEDGER_DIRECT_POOL: z.coerce.number().int().min(0).max(64).default(4),
  ...creditsConfig,
  ...chainConfig,
});
export type Config = ReturnType<typeof readConfig>;
export const readConfig = (env: Record<string, string | undefined> = process.env) => checkOnramp(checkChain(checkStripe(loadConfig(configSchema, env))));
