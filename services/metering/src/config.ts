import { loadConfig, serviceBaseSchema, port, csv, bool, z, ConfigError } from '@platform/config';

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address');
/** An empty variable is "not set" (docker-compose writes `${USDC_ADDRESS:-}` as ""). */
const unsetIfEmpty = <T extends z.ZodType>(t: T) => z.preprocess((v) => (v === '' ? undefined : v), t.optional());

export const configSchema = serviceBaseSchema.extend({
  PORT: port(8104),
  /** Wallets' internal API: the prepaid balance every paid call is debited from. */
  WALLETS_URL: z.string().url().default('http://127.0.0.1:8102'),
  WALLETS_TIMEOUT_MS: z.coerce.number().int().min(50).max(30_000).default(2_000),
  /** Hosts the proxy may reach even though they resolve to private or loopback addresses (tests, on-prem providers). */
  OUTBOUND_ALLOW_HOSTS: csv,
  /** How long a provider may take to start answering before the call is a 504 and refunded. */
  UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(1).max(600_000).default(30_000),
  /** How often unfinished refunds and abandoned calls are retried. */
  REFUND_SWEEP_MS: z.coerce.number().int().min(20).max(600_000).default(5_000),
  /**
   * After how long a call still `pending` belongs to a process that died, and is closed and
   * refunded. Unset: WALLETS_TIMEOUT_MS + UPSTREAM_TIMEOUT_MS + 60 s. Must exceed the first two,
   * or a live call on another replica could be closed under it.
   */
  PENDING_STALE_MS: z.coerce.number().int().min(100).max(86_400_000).optional(),
  /** How clients reach the gateway; the discovery documents (agent-pay.md/json) link to it. */
  PUBLIC_BASE_URL: z
    .string()
    .url()
    .default('http://localhost:8000')
    .transform((u) => u.replace(/\/+$/, '')),
  /** EVM chain agents pay on. Default Base Sepolia (84532): a development default never points at real money. */
  CHAIN_ID: z.coerce.number().int().min(1).default(84532),
  /** x402 v1 network name of CHAIN_ID (v2 uses CAIP-2, `eip155:<CHAIN_ID>`). Unset: the known name of CHAIN_ID. */
  X402_NETWORK: unsetIfEmpty(z.string().regex(/^[a-z0-9:-]{1,64}$/, 'must be an x402 network name such as base or base-sepolia')),
  /** The USDC contract on CHAIN_ID (6 decimals, EIP-3009), the asset x402 payments are made in. Unset: Circle's USDC on Base / Base Sepolia. */
  USDC_ADDRESS: unsetIfEmpty(address),
  /**
   * JSON-RPC of CHAIN_ID, read-only: USDC's authorizationState tells whether an x402 payment
   * whose answer was lost settled after all. Unset: such calls wait for reconciliation.
   */
  CHAIN_RPC_URL: unsetIfEmpty(z.string().url()),
  /** Largest upstream response external fetch and /services/{slug} read (they answer it inside JSON). */
  EXTERNAL_FETCH_MAX_BYTES: z.coerce.number().int().min(1_024).max(100 * 1024 * 1024).default(5 * 1024 * 1024),
  /**
   * How long a service's price and status are reused from memory (0: read the read model on
   * every call). This process's catalogue consumer forgets a row at once; other replicas within this.
   */
  PRICE_CACHE_MS: z.coerce.number().int().min(0).max(60_000).default(1_000),
  /**
   * Paid calls' usage writes (the pending record, the completion with its service.called) go
   * out in batches across concurrent calls, one statement per batch; false: a transaction per call.
   */
  USAGE_BATCHING: bool(true),
  /** Connections of the batched usage writes' own pg pool; 0: through Prisma's (standalone's one-connection databases). */
  USAGE_WRITER_POOL: z.coerce.number().int().min(0).max(64).default(4),
  /** Balance debits of concurrent calls go to wallets together (`POST /internal/debits/batch`); false: one request per call. */
  DEBIT_BATCHING: bool(true),
  /**
   * How long after an authorization's valid_before the sweeper waits before it releases the
   * agent budget booked for an x402 payment that was refused or never signed (clock skew).
   */
  X402_RELEASE_GRACE_S: z.coerce.number().int().min(0).max(86_400).default(60),
  /**
   * Debit batches in flight to wallets at once. They all move the same hot rows (one buyer's
   * balance, one provider's payable), which PostgreSQL serializes anyway; fewer in flight means
   * bigger batches and less lock waiting.
   */
  DEBIT_BATCH_IN_FLIGHT: z.coerce.number().int().min(1).max(64).default(1),
  /** Redis shared by the replicas: balance leases are spent there (unset: every paid call debits wallets). */
  REDIS_URL: unsetIfEmpty(z.string().url()),
  /**
   * Balance leases (README "Balance leases"): calls on the prepaid balance spend a slice wallets
   * escrowed once, in Redis, instead of a wallets debit and a pending record each. Needs REDIS_URL
   * and the usage writer's own pool.
   */
  BALANCE_LEASES: bool(true),
  /** A lease is worth this many calls at the price of the call that opens it (less when the balance is smaller). */
  LEASE_CALLS: z.coerce.number().int().min(1).max(1_000_000).default(1_000),
  /** How long calls may spend one lease before a new one is opened; it closes PENDING_STALE_MS later. */
  LEASE_TTL_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  /** Prefix of the lease keys in Redis: one per deployment sharing a Redis (the keys name lease ids of this database). */
  LEASE_KEY_PREFIX: z.string().min(1).max(100).default('acf:lease:'),
});

/** Circle's USDC and x402's network names on the chains that need no configuration. */
const KNOWN_CHAINS: Record<number, { network: string; usdc: string }> = {
  8453: { network: 'base', usdc: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913' },
  84532: { network: 'base-sepolia', usdc: '0x036CbD53842c5426634e7929541eC2318f3dCF7e' },
};

export type Config = Omit<z.infer<typeof configSchema>, 'PENDING_STALE_MS' | 'X402_NETWORK' | 'USDC_ADDRESS'> & {
  PENDING_STALE_MS: number;
  X402_NETWORK: string;
  USDC_ADDRESS: string;
};

export const readConfig = (env: Record<string, string | undefined> = process.env): Config => {
  const c = loadConfig(configSchema, env);
  const floor = c.WALLETS_TIMEOUT_MS + c.UPSTREAM_TIMEOUT_MS;
  if (c.PENDING_STALE_MS !== undefined && c.PENDING_STALE_MS <= floor) {
    throw new ConfigError(`invalid configuration:\n  PENDING_STALE_MS: must be more than WALLETS_TIMEOUT_MS + UPSTREAM_TIMEOUT_MS (${floor})`);
  }
  const known = KNOWN_CHAINS[c.CHAIN_ID];
  const usdc = c.USDC_ADDRESS ?? known?.usdc;
  if (!usdc) throw new ConfigError(`invalid configuration:\n  USDC_ADDRESS: required for CHAIN_ID ${c.CHAIN_ID} (known without it: ${Object.keys(KNOWN_CHAINS).join(', ')})`);
  return {
    ...c,
    PENDING_STALE_MS: c.PENDING_STALE_MS ?? floor + 60_000,
    X402_NETWORK: c.X402_NETWORK ?? known?.network ?? `eip155:${c.CHAIN_ID}`,
    USDC_ADDRESS: usdc,
  };
};
