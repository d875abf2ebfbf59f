import { randomBytes } from 'node:crypto';
import { Contract, Interface, JsonRpcProvider, Network, Signature, TransactionReceipt, Wallet, getAddress, hexlify, zeroPadValue } from 'ethers';

/**
 * The chain behind one port: USDC reads, receipts, EIP-3009 signing and every transaction the
 * platform sends. The only file that imports ethers' providers and signers (keys arrive
 * decrypted for one call and are not kept).
 *
 * Platform-initiated USDC movements out of an agent wallet (session deposits, drains) are
 * EIP-3009 `transferWithAuthorization`s the agent signs and the treasury submits, so agents
 * need no gas for them and the nonce (chosen per business operation) makes a resubmission
 * after a crash harmless: a used nonce is found on chain instead of moving money twice. The
 * treasury's own transfers (session refunds) use the same scheme with the treasury signing.
 */

const USDC_ABI = [
  'function balanceOf(address) view returns (uint256)',
  'function allowance(address owner, address spender) view returns (uint256)',
  'function transfer(address to, uint256 value) returns (bool)',
  'function transferFrom(address from, address to, uint256 value) returns (bool)',
  'function mint(address to, uint256 value)',
  'function authorizationState(address authorizer, bytes32 nonce) view returns (bool)',
  'function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r, bytes32 s)',
  'event Transfer(address indexed from, address indexed to, uint256 value)',
  'event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce)',
];
const usdcInterface = new Interface(USDC_ABI);
const TRANSFER_TOPIC = usdcInterface.getEvent('Transfer')!.topicHash;
const AUTHORIZATION_USED_TOPIC = usdcInterface.getEvent('AuthorizationUsed')!.topicHash;

const TRANSFER_WITH_AUTHORIZATION_TYPES = {
  TransferWithAuthorization: [
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'validAfter', type: 'uint256' },
    { name: 'validBefore', type: 'uint256' },
    { name: 'nonce', type: 'bytes32' },
  ],
};

export interface TokenTransfer {
  from: string;
  to: string;
  value: bigint;
  logIndex: number;
}

export type ReceiptCheck =
  | { state: 'unknown' }
  | { state: 'pending' }
  | { state: 'failed'; blockNumber: number }
  | { state: 'unconfirmed'; confirmations: number }
  | { state: 'confirmed'; blockNumber: number; from: string; transfers: TokenTransfer[] };

export interface Authorization {
  from: string;
  to: string;
  value: bigint;
  validAfter: bigint;
  validBefore: bigint;
  /** 0x + 64 hex. */
  nonce: string;
}

export interface SignedAuthorization {
  authorization: Authorization;
  /** 65-byte r‖s‖v, 0x-prefixed. */
  signature: string;
}

export interface Mined {
  txHash: string;
  transfers: TokenTransfer[];
}

/** A transaction the chain refused (reverted, or refused at estimation), with its reason. */
export class ChainRefusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChainRefusal';
  }
}

export interface ChainClientOptions {
  rpcUrl: string;
  chainId: number;
  usdcAddress: string;
  treasuryPrivateKey: string;
  eip712: { name: string; version: string };
  confirmations: number;
  txTimeoutMs: number;
}

export const randomNonce = (): string => hexlify(randomBytes(32));
export const newKeypair = (): { address: string; privateKey: string } => {
  const w = Wallet.createRandom();
  return { address: w.address, privateKey: w.privateKey };
};
export const addressOfKey = (privateKey: string): string => new Wallet(privateKey).address;
export const checksum = (address: string): string => getAddress(address);

/** Serializes work: the treasury's transactions must take nonces one after another. */
class Queue {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

function reasonOf(err: unknown): string {
  const e = err as { shortMessage?: string; reason?: string; info?: { error?: { message?: string } }; message?: string };
  return e.reason ?? e.info?.error?.message ?? e.shortMessage ?? e.message ?? String(err);
}

export function createChainClient(opts: ChainClientOptions) {
  const network = Network.from(opts.chainId);
  // cacheTimeout -1: ethers would otherwise reuse a nonce or balance read for 250 ms.
  const provider = new JsonRpcProvider(opts.rpcUrl, network, { staticNetwork: network, cacheTimeout: -1, pollingInterval: 250 });
  const treasury = new Wallet(opts.treasuryPrivateKey, provider);
  const usdcAddress = getAddress(opts.usdcAddress);
  const usdc = new Contract(usdcAddress, USDC_ABI, provider);
  const domain = { name: opts.eip712.name, version: opts.eip712.version, chainId: opts.chainId, verifyingContract: usdcAddress };
  const treasuryQueue = new Queue();

  function transfersIn(receipt: TransactionReceipt): TokenTransfer[] {
    const out: TokenTransfer[] = [];
    for (const log of receipt.logs) {
      if (log.address.toLowerCase() !== usdcAddress.toLowerCase() || log.topics[0] !== TRANSFER_TOPIC) continue;
      const parsed = usdcInterface.parseLog({ topics: [...log.topics], data: log.data });
      if (!parsed) continue;
      out.push({ from: getAddress(parsed.args[0]), to: getAddress(parsed.args[1]), value: BigInt(parsed.args[2]), logIndex: log.index });
    }
    return out;
  }

  /** The platform's own transactions count once mined; CHAIN_CONFIRMATIONS applies to fundings it is told about. */
  async function waitMined(txHash: string): Promise<TransactionReceipt> {
    const receipt = await provider.waitForTransaction(txHash, 1, opts.txTimeoutMs);
    if (!receipt) throw new Error(`transaction ${txHash} was not mined within ${opts.txTimeoutMs} ms`);
    if (receipt.status !== 1) throw new ChainRefusal(`transaction ${txHash} reverted`);
    return receipt;
  }

  /**
   * Sends one treasury transaction: the queue hands out nonces in order (read from the
   * chain's pending count, so a refused send leaves no gap), and mining is awaited outside it.
   */
  async function sendFromTreasury(build: (overrides: { nonce: number }) => Promise<{ hash: string }>): Promise<TransactionReceipt> {
    const sent = await treasuryQueue.run(async () => {
      const nonce = await provider.getTransactionCount(treasury.address, 'pending');
      try {
        return await build({ nonce });
      } catch (err) {
        throw new ChainRefusal(reasonOf(err));
      }
    });
    return waitMined(sent.hash);
  }

  /** The transaction that used `nonce` of `authorizer`, found by its AuthorizationUsed log. */
  async function findAuthorizationUse(authorizer: string, nonce: string): Promise<Mined | null> {
    const logs = await provider.getLogs({
      address: usdcAddress,
      topics: [AUTHORIZATION_USED_TOPIC, zeroPadValue(getAddress(authorizer), 32), nonce],
      fromBlock: 0,
      toBlock: 'latest',
    });
    if (!logs.length) return null;
    const receipt = await waitMined(logs[0].transactionHash);
    return { txHash: receipt.hash, transfers: transfersIn(receipt) };
  }

  async function sign(privateKey: string, a: Authorization): Promise<SignedAuthorization> {
    const signer = new Wallet(privateKey);
    if (getAddress(a.from) !== signer.address) throw new Error('the authorization is not from this key');
    const signature = await signer.signTypedData(domain, TRANSFER_WITH_AUTHORIZATION_TYPES, {
      from: signer.address,
      to: getAddress(a.to),
      value: a.value,
      validAfter: a.validAfter,
      validBefore: a.validBefore,
      nonce: a.nonce,
    });
    return { authorization: { ...a, from: signer.address, to: getAddress(a.to) }, signature };
  }

  /**
   * Submits a signed authorization from the treasury and answers the mined transaction. If
   * the nonce was already used (a retry after a crash, or a concurrent submit of the same
   * operation), answers the transaction that used it instead of failing.
   */
  async function relay(s: SignedAuthorization): Promise<Mined> {
    const a = s.authorization;
    if (await usdc.authorizationState(a.from, a.nonce)) {
      const used = await findAuthorizationUse(a.from, a.nonce);
      if (used) return used;
      throw new ChainRefusal(`authorization ${a.nonce} of ${a.from} was canceled`);
    }
    const sig = Signature.from(s.signature);
    try {
      const receipt = await sendFromTreasury((o) =>
        (usdc.connect(treasury) as Contract).transferWithAuthorization(a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce, sig.v, sig.r, sig.s, o),
      );
      return { txHash: receipt.hash, transfers: transfersIn(receipt) };
    } catch (err) {
      // Lost a race with another submit of the same authorization: that one is the answer.
      if (err instanceof ChainRefusal && (await usdc.authorizationState(a.from, a.nonce))) {
        const used = await findAuthorizationUse(a.from, a.nonce);
        if (used) return used;
      }
      throw err;
    }
  }

  /** A validity window around the chain's own time (the token checks block.timestamp), whichever clock is ahead. */
  const validity = async (seconds: number) => {
    const block = await provider.getBlock('latest');
    const chainNow = BigInt(block?.timestamp ?? 0);
    const wallNow = BigInt(Math.floor(Date.now() / 1000));
    const now = chainNow > wallNow ? chainNow : wallNow;
    return { validAfter: (chainNow < wallNow ? chainNow : wallNow) - 600n, validBefore: now + BigInt(seconds) };
  };

  return {
    chainId: opts.chainId,
    usdcAddress,
    treasuryAddress: treasury.address,

    /** The chain id the RPC endpoint reports (readiness: it must equal CHAIN_ID). */
    async reportedChainId(): Promise<number> {
      return Number(BigInt(await provider.send('eth_chainId', [])));
    },

    usdcBalance: async (address: string): Promise<bigint> => BigInt(await usdc.balanceOf(address)),
    /** Issued together, so the provider sends them as one JSON-RPC batch. */
    usdcBalances: async (addresses: string[]): Promise<bigint[]> => (await Promise.all(addresses.map((a) => usdc.balanceOf(a)))).map((b) => BigInt(b)),
    ethBalance: (address: string): Promise<bigint> => provider.getBalance(address),
    allowance: async (owner: string, spender: string): Promise<bigint> => BigInt(await usdc.allowance(owner, spender)),
    authorizationUsed: async (authorizer: string, nonce: string): Promise<boolean> => Boolean(await usdc.authorizationState(authorizer, nonce)),

    /** Where a transaction stands, and the USDC transfers it made once it has enough confirmations. */
    async checkReceipt(txHash: string): Promise<ReceiptCheck> {
      const receipt = await provider.getTransactionReceipt(txHash);
      if (!receipt) return (await provider.getTransaction(txHash)) ? { state: 'pending' } : { state: 'unknown' };
      if (receipt.status !== 1) return { state: 'failed', blockNumber: receipt.blockNumber };
      const confirmations = await receipt.confirmations();
      if (confirmations < opts.confirmations) return { state: 'unconfirmed', confirmations };
      return { state: 'confirmed', blockNumber: receipt.blockNumber, from: getAddress(receipt.from), transfers: transfersIn(receipt) };
    },

    /** EIP-3009 TransferWithAuthorization signed with `privateKey` (an agent's), for exactly these parameters. */
    signAuthorization: sign,

    /** Moves `value` from the key's address to `to` now: the key signs, the treasury submits. */
    async transferWithAuthorization(privateKey: string, to: string, value: bigint, nonce: string): Promise<Mined> {
      const signed = await sign(privateKey, { from: addressOfKey(privateKey), to, value, nonce, ...(await validity(3600)) });
      return relay(signed);
    },

    /** The treasury pays `to` (session refunds), idempotently by `nonce`. */
    async payFromTreasury(to: string, value: bigint, nonce: string): Promise<Mined> {
      const signed = await sign(opts.treasuryPrivateKey, { from: treasury.address, to, value, nonce, ...(await validity(3600)) });
      return relay(signed);
    },

    /** ETH from the treasury (gas sponsorship, the faucet). */
    async sendEth(to: string, wei: bigint): Promise<string> {
      const receipt = await sendFromTreasury((o) => treasury.sendTransaction({ to, value: wei, ...o }));
      return receipt.hash;
    },

    /** Test USDC from the treasury (the faucet): transferred from its supply, minted when it runs short. */
    async sendTestUsdc(to: string, value: bigint): Promise<Mined> {
      const held = BigInt(await usdc.balanceOf(treasury.address));
      const receipt = await sendFromTreasury((o) =>
        held >= value ? (usdc.connect(treasury) as Contract).transfer(to, value, o) : (usdc.connect(treasury) as Contract).mint(to, value, o),
      );
      return { txHash: receipt.hash, transfers: transfersIn(receipt) };
    },

    /**
     * Pulls `value` from `source` into the agent with the ERC-20 allowance `source` gave the
     * agent's address (auto top-up); the agent sends it, so it needs gas.
     */
    async pullWithAllowance(agentPrivateKey: string, source: string, value: bigint): Promise<Mined> {
      const agent = new Wallet(agentPrivateKey, provider);
      let hash: string;
      try {
        const nonce = await provider.getTransactionCount(agent.address, 'pending');
        hash = (await (usdc.connect(agent) as Contract).transferFrom(source, agent.address, value, { nonce })).hash;
      } catch (err) {
        throw new ChainRefusal(reasonOf(err));
      }
      const receipt = await waitMined(hash);
      return { txHash: receipt.hash, transfers: transfersIn(receipt) };
    },

    /** What one agent-sent token transaction may cost in gas at current prices (with headroom). */
    async tokenTxGasCost(): Promise<bigint> {
      const fee = await provider.getFeeData();
      const price = fee.maxFeePerGas ?? fee.gasPrice ?? 1_000_000_000n;
      return 100_000n * price;
    },

    close(): void {
      provider.destroy();
    },
  };
}
export type ChainClient = ReturnType<typeof createChainClient>;
