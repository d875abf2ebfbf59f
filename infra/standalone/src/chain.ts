import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Wallet } from 'ethers';
import { deployTestUsdc, hasCode, startHardhatNode, LOCAL_CHAIN_ID, LocalNode } from '@platform/chain';
import { blockAt, callNode, Journal, JOURNAL_FILE, JournalingProxy, replayJournal, startJournalingProxy } from './chain-journal';
import type { Env } from './services';

export interface EmbeddedChain {
  /** The journaling proxy's address: what every part of the platform uses. */
  rpcUrl: string;
  chainId: number;
  usdcAddress: string;
  treasuryAddress: string;
  /** `<data>/chain/journal.jsonl`. */
  journalFile: string;
  /** How many journaled calls were replayed at start (0 on a fresh chain). */
  replayed: number;
  /** Things an operator must know (a journal that did not replay). */
  warnings: string[];
  stop(): Promise<void>;
}

/**
 * Standalone mode's chain when no CHAIN_RPC_URL is configured: a Hardhat 2 node (chain id
 * 31337) as a child process behind a journaling proxy (chain-journal.ts), so its state survives
 * a restart like the PGlite databases do. On a fresh folder the test USDC is deployed from
 * the treasury key; on a folder with a journal, the journal is replayed and checked block by
 * block. A journal that does not replay is renamed aside and a fresh chain starts, loudly:
 * a diverged chain under ledgers that remember deposits would be worse.
 */
export async function startEmbeddedChain(env: Env, treasuryPrivateKey: string, dataDir: string): Promise<EmbeddedChain> {
  const port = env.STANDALONE_CHAIN_PORT ? Number(env.STANDALONE_CHAIN_PORT) : 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`STANDALONE_CHAIN_PORT: "${env.STANDALONE_CHAIN_PORT}" is not a port number`);
  const dir = path.join(dataDir, 'chain');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const journal = new Journal(path.join(dir, JOURNAL_FILE));
  const warnings: string[] = [];
  if (existsSync(journal.file)) {
    try {
      return await resumeChain(journal, port, treasuryPrivateKey);
    } catch (err) {
      const aside = `${journal.file}.diverged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
      renameSync(journal.file, aside);
      warnings.push(
        `the chain journal did not replay (${err instanceof Error ? err.message : String(err)}). A FRESH chain was started and the old journal kept as ${aside}: ` +
          'wallet balances and session deposits the databases remember are NOT on this chain.',
      );
    }
  }
  return { ...(await freshChain(journal, port, treasuryPrivateKey)), warnings };
}

async function freshChain(journal: Journal, port: number, treasuryPrivateKey: string): Promise<EmbeddedChain> {
  const node = await startHardhatNode();
  let proxy: JournalingProxy | undefined;
  try {
    const genesis = await blockAt(node.url, 0);
    journal.begin({ t: 'genesis', chainId: LOCAL_CHAIN_ID, hash: genesis.hash, timestamp: genesis.timestamp });
    proxy = await startJournalingProxy({ nodeUrl: node.url, port, journal, head: genesis });
    // Through the proxy, so the deployment is journaled like any transaction; the treasury's
    // first transaction, so the token's address is the same on every fresh chain too.
    const d = await deployTestUsdc({ rpcUrl: proxy.url, treasuryPrivateKey });
    journal.append({ t: 'deployment', usdcAddress: d.usdcAddress, treasuryAddress: d.treasuryAddress });
    return running(node, proxy, journal, d.usdcAddress, d.treasuryAddress, 0);
  } catch (err) {
    await proxy?.close();
    await node.stop();
    rmSync(journal.file, { force: true });
    throw err;
  }
}

async function resumeChain(journal: Journal, port: number, treasuryPrivateKey: string): Promise<EmbeddedChain> {
  const lines = journal.read();
  const genesis = lines[0];
  if (genesis?.t !== 'genesis') throw new Error(`${journal.file} does not start with its genesis line`);
  const deployment = lines.find((l) => l.t === 'deployment');
  if (deployment?.t !== 'deployment') throw new Error('the journal records no token deployment (the first start stopped before it finished)');
  const treasuryAddress = new Wallet(treasuryPrivateKey).address;
  if (treasuryAddress !== deployment.treasuryAddress) throw new Error(`TREASURY_PRIVATE_KEY is ${treasuryAddress}'s, the journal's treasury is ${deployment.treasuryAddress}`);

  const node = await startHardhatNode({ genesisTimestamp: genesis.timestamp });
  let proxy: JournalingProxy | undefined;
  try {
    const replay = await replayJournal(node.url, lines);
    if (!(await hasCode(node.url, deployment.usdcAddress))) throw new Error(`no contract at the journal's USDC address ${deployment.usdcAddress} after the replay`);
    // Replay left the node's clock at the last block's time; moving it forward to the wall
    // clock (which EIP-3009 validity windows are computed from) mines nothing, so it is not
    // journaled: the next replay sets every block's time itself.
    const behind = await callNode(node.url, { method: 'evm_increaseTime', params: [Math.max(0, Math.floor(Date.now() / 1000) - replay.head.timestamp)] });
    if (behind.error) throw new Error(`evm_increaseTime after the replay: ${behind.error.message}`);
    proxy = await startJournalingProxy({ nodeUrl: node.url, port, journal, head: replay.head });
    return running(node, proxy, journal, deployment.usdcAddress, treasuryAddress, replay.calls);
  } catch (err) {
    await proxy?.close();
    await node.stop();
    throw err;
  }
}

function running(node: LocalNode, proxy: JournalingProxy, journal: Journal, usdcAddress: string, treasuryAddress: string, replayed: number): EmbeddedChain {
  return {
    rpcUrl: proxy.url,
    chainId: LOCAL_CHAIN_ID,
    usdcAddress,
    treasuryAddress,
    journalFile: journal.file,
    replayed,
    warnings: [],
    async stop() {
      await proxy.close();
      await node.stop();
    },
  };
}
