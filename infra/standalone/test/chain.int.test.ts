import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Contract, JsonRpcProvider, Wallet, parseEther, toBeHex } from 'ethers';
import { TEST_USDC } from '@platform/chain';
import { EmbeddedChain, startEmbeddedChain } from '../src/chain';

jest.setTimeout(120_000);

/**
 * Standalone's embedded chain survives a restart on the same data folder: the journal of
 * state-changing calls replays to the same blocks, balances and token address, the chain's
 * clock is the wall clock again afterwards, and a journal that does not replay is set aside
 * for a fresh chain, loudly.
 */
describe('standalone embedded chain across restarts', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'standalone-chain-'));
  const treasuryKey = Wallet.createRandom().privateKey;
  const agent = Wallet.createRandom();
  const payee = Wallet.createRandom().address;
  let chain: EmbeddedChain | undefined;
  let provider: JsonRpcProvider | undefined;

  const connect = (c: EmbeddedChain) => {
    provider?.destroy();
    provider = new JsonRpcProvider(c.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
    return { provider, usdc: new Contract(c.usdcAddress, TEST_USDC.abi as never, provider) };
  };
  const restart = async () => {
    await chain!.stop();
    chain = await startEmbeddedChain({}, treasuryKey, dataDir);
    return chain;
  };
  const snapshot = async (c: EmbeddedChain) => {
    const { provider: p, usdc } = connect(c);
    const latest = (await p.getBlock('latest'))!;
    return {
      block: latest.number,
      hash: latest.hash,
      usdcAddress: c.usdcAddress,
      agentUsdc: (await usdc.balanceOf(agent.address)) as bigint,
      payeeUsdc: (await usdc.balanceOf(payee)) as bigint,
      treasuryUsdc: (await usdc.balanceOf(c.treasuryAddress)) as bigint,
      agentEth: await p.getBalance(agent.address),
    };
  };
  let before: Awaited<ReturnType<typeof snapshot>>;

  afterAll(async () => {
    provider?.destroy();
    await chain?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('funds an address and moves tokens on a fresh chain, journaling every state change', async () => {
    chain = await startEmbeddedChain({}, treasuryKey, dataDir);
    expect(chain).toMatchObject({ replayed: 0, warnings: [], journalFile: path.join(dataDir, 'chain', 'journal.jsonl') });
    const { provider: p, usdc } = connect(chain);
    const treasury = new Wallet(treasuryKey, p);

    // What the faucet does (gas + tokens from the treasury), then the agent pays someone.
    await p.send('hardhat_setBalance', [agent.address, toBeHex(parseEther('1'))]);
    await (await (usdc.connect(treasury) as Contract).transfer(agent.address, 25_000_000n)).wait();
    await (await (usdc.connect(agent.connect(p)) as Contract).transfer(payee, 7_000_000n)).wait();

    before = await snapshot(chain);
    expect(before).toMatchObject({ agentUsdc: 18_000_000n, payeeUsdc: 7_000_000n, agentEth: expect.any(BigInt) });
    expect(before.block).toBe(3);
    const methods = readFileSync(chain.journalFile, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { t: string; method?: string }).method ?? (JSON.parse(l) as { t: string }).t);
    expect(methods).toEqual(['genesis', 'hardhat_setBalance', 'eth_sendRawTransaction', 'deployment', 'hardhat_setBalance', 'eth_sendRawTransaction', 'eth_sendRawTransaction']);
  });

  it('replays to the same block hash, balances and token address after a stop and a start', async () => {
    const c = await restart();
    expect(c).toMatchObject({ replayed: 5, warnings: [] });
    expect(await snapshot(c)).toEqual(before);
  });

  it('runs on at the wall clock after a replay, and the calls made then replay too', async () => {
    const c = chain!;
    const { provider: p, usdc } = connect(c);
    await (await (usdc.connect(agent.connect(p)) as Contract).transfer(payee, 1_000_000n)).wait();
    const mined = (await p.getBlock('latest'))!;
    // The replay set each block's recorded (past) time; the clock is the wall clock again.
    expect(Math.abs(mined.timestamp - Date.now() / 1000)).toBeLessThan(10);
    const after = await snapshot(c);
    expect(after).toMatchObject({ block: before.block + 1, agentUsdc: 17_000_000n, payeeUsdc: 8_000_000n });

    // A last line cut short (killed mid-append) is dropped; everything before it replays.
    await chain!.stop();
    appendFileSync(c.journalFile, '{"t":"call","method":"eth_sendRaw');
    chain = await startEmbeddedChain({}, treasuryKey, dataDir);
    expect(chain).toMatchObject({ replayed: 6, warnings: [] });
    expect(await snapshot(chain)).toEqual(after);
  });

  it('sets a journal that does not replay aside and starts a fresh chain, with a warning', async () => {
    const file = chain!.journalFile;
    await chain!.stop();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const last = JSON.parse(lines[lines.length - 1]) as { head: { hash: string } };
    last.head.hash = `0x${'ab'.repeat(32)}`;
    writeFileSync(file, [...lines.slice(0, -1), JSON.stringify(last)].join('\n') + '\n');

    chain = await startEmbeddedChain({}, treasuryKey, dataDir);
    expect(chain.replayed).toBe(0);
    expect(chain.warnings.join('\n')).toMatch(/did not replay .*block .* the journal says .*FRESH chain/s);
    expect(readdirSync(path.dirname(file)).filter((f) => f.startsWith('journal.jsonl.diverged-'))).toHaveLength(1);
    const fresh = await snapshot(chain);
    // The treasury deploys as its first transaction: the same token address, none of the old transfers.
    expect(fresh).toMatchObject({ usdcAddress: before.usdcAddress, payeeUsdc: 0n, agentUsdc: 0n, block: 1 });
  });
});
