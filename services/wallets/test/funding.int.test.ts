import { Contract, Wallet } from 'ethers';
import { startUpstream, Upstream } from '@platform/testing';
import { ChainWallets, startWalletsOnChain, asUser, call, uniq } from './chain-helpers';
import { driftedAccounts, unbalancedEntries } from './helpers';

jest.setTimeout(90_000);

/** Spec 001 funding (read from the chain), gas sponsorship, draining, transactions, on-ramp. */
describe('funding and draining agent wallets on chain', () => {
  let w: ChainWallets;
  let onramp: Upstream;
  let onrampSender: Wallet;
  beforeAll(async () => {
    onramp = await startUpstream((req, body, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ token: `tok_${JSON.parse(body).addresses[0].address.slice(2, 10)}` }));
    });
    onrampSender = Wallet.createRandom() as unknown as Wallet;
    w = await startWalletsOnChain({ ONRAMP_API_URL: onramp.url, ONRAMP_API_KEY: 'cdp-test-key', ONRAMP_SENDER_ADDRESSES: onrampSender.address, GAS_SPONSOR_GWEI: '2000000' });
  });
  afterAll(async () => {
    await w?.stop();
    await onramp?.close();
  });
  afterEach(async () => {
    expect(await unbalancedEntries(w.svc.db)).toBe(0);
    expect(await driftedAccounts(w.svc.db)).toBe(0);
  });

  const user = uniq('funder-user');
  const me = asUser(user);
  const newAgent = async (name = 'Research Bot', headers = me) => (await call(`${w.url}/agents`, { body: { name }, headers })).body as { id: string; wallet_address: string };
  const fund = (id: string, body: unknown, headers = me) => call(`${w.url}/agents/${id}/fund`, { body, headers });
  const ledgerCount = () => w.svc.db.ledgerEntry.count();

  it('records a funding read from the chain, sponsoring gas on the first one only (spec 001 shape)', async () => {
    const agent = await newAgent();
    const funder = await w.newFunder();
    const hash = await w.send(funder, agent.wallet_address, 25_000_000n);

    const r = await fund(agent.id, { tx_hash: hash, amount: '25000000' });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ funded: true, amount: '25000000', gas_sponsored: true, gas_tx_hash: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
    expect(await w.provider.getBalance(agent.wallet_address)).toBe(2_000_000n * 1_000_000_000n);

    const second = await fund(agent.id, { tx_hash: await w.send(funder, agent.wallet_address, 5_000_000n) });
    expect(second.body).toEqual({ funded: true, amount: '5000000', gas_sponsored: false, gas_tx_hash: null });

    const entries = await w.svc.db.ledgerEntry.findMany({ where: { kind: { in: ['fund', 'gas_sponsor'] } }, include: { postings: { include: { account: true } } } });
    const mine = entries.filter((e) => (e.metadata as { agent_id?: string }).agent_id === agent.id);
    expect(mine.map((e) => e.kind).sort()).toEqual(['fund', 'fund', 'gas_sponsor']);
    const wallet = await w.svc.db.ledgerAccount.findUniqueOrThrow({ where: { ownerId_kind_currency: { ownerId: agent.id, kind: 'agent_wallet', currency: 'USDC' } } });
    expect(wallet.balance).toBe(30_000_000n);
    const gas = await w.svc.db.ledgerAccount.findUniqueOrThrow({ where: { ownerId_kind_currency: { ownerId: agent.id, kind: 'agent_wallet', currency: 'ETH' } } });
    expect(gas.balance).toBe(2_000_000n);

    const events = await w.svc.db.outboxEvent.findMany({ where: { type: 'wallet.agent.funded' }, orderBy: { seq: 'asc' } });
    const data = events.map((e) => (e.envelope as { data: { agent_id: string; amount_micros: string; source: string; tx_hash: string } }).data).filter((d) => d.agent_id === agent.id);
    expect(data).toEqual([
      expect.objectContaining({ amount_micros: '25000000', source: 'fund', tx_hash: hash, account_id: user }),
      expect.objectContaining({ amount_micros: '5000000', source: 'fund' }),
    ]);
  });

  it('refuses a forged amount, a transfer to another address and a reused hash, recording nothing', async () => {
    const agent = await newAgent('Careful Bot');
    const other = await newAgent('Other Bot');
    const funder = await w.newFunder();
    const hash = await w.send(funder, agent.wallet_address, 10_000_000n);
    const before = await ledgerCount();

    const forged = await fund(agent.id, { tx_hash: hash, amount: '99000000' });
    expect(forged.status).toBe(400);
    expect(forged.body.error).toMatch(/amount 99000000 does not match the chain: .* transferred 10000000/);

    const wrongAgent = await fund(other.id, { tx_hash: hash });
    expect(wrongAgent.status).toBe(400);
    expect(wrongAgent.body.error).toMatch(/does not transfer USDC .* to this agent's wallet/);

    const toStranger = await w.send(funder, Wallet.createRandom().address, 1_000_000n);
    expect((await fund(agent.id, { tx_hash: toStranger })).status).toBe(400);
    expect(await ledgerCount()).toBe(before);

    expect((await fund(agent.id, { tx_hash: hash })).status).toBe(200);
    const after = await ledgerCount();
    const reused = await fund(agent.id, { tx_hash: hash });
    expect(reused.status).toBe(409);
    expect(reused.body.error).toMatch(/already recorded/);
    const reusedUpper = await fund(agent.id, { tx_hash: `0x${hash.slice(2).toUpperCase()}` });
    expect(reusedUpper.status).toBe(409);
    expect(await ledgerCount()).toBe(after);
  });

  it('refuses an unknown hash, a failed transaction and a transfer of another token', async () => {
    const agent = await newAgent('Picky Bot');
    const funder = await w.newFunder(1_000_000n);
    const unknown = await fund(agent.id, { tx_hash: `0x${'ab'.repeat(32)}` });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/not found on chain 31337/);

    // More than the funder holds, with a fixed gas limit: mined, and reverted.
    const failing = await (w.usdc.connect(funder) as Contract).transfer(agent.wallet_address, 5_000_000n, { gasLimit: 100_000 });
    const failed = await fund(agent.id, { tx_hash: failing.hash });
    expect(failed.status).toBe(400);
    expect(failed.body.error).toMatch(/failed on chain/);

    const eth = await funder.sendTransaction({ to: agent.wallet_address, value: 1n });
    await eth.wait();
    const notUsdc = await fund(agent.id, { tx_hash: eth.hash });
    expect(notUsdc.status).toBe(400);
    expect(notUsdc.body.error).toMatch(/does not transfer USDC/);

    for (const [body, message] of [
      [{}, /tx_hash is required/],
      [{ tx_hash: '0x1234' }, /tx_hash must be 0x and 64 hex/],
      [{ tx_hash: `0x${'ab'.repeat(32)}`, amount: '-5' }, /amount must be a non-negative integer/],
    ] as [unknown, RegExp][]) {
      const r = await fund(agent.id, body);
      expect(r.status).toBe(400);
      expect(r.body.error).toMatch(message);
    }
  });

  it('drains the whole balance back to where the funding came from, then to a given address (spec 001 shape)', async () => {
    const agent = await newAgent('Drain Bot');
    const funder = await w.newFunder();
    const hash = await w.send(funder, agent.wallet_address, 25_000_000n);
    await fund(agent.id, { tx_hash: hash });
    const funderBefore = await w.balanceOf(funder.address);

    const r = await call(`${w.url}/agents/${agent.id}/drain`, { headers: me, body: {} });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ drained: true, amount: '25000000', tx_hash: expect.stringMatching(/^0x[0-9a-f]{64}$/), to_address: funder.address });
    expect(await w.balanceOf(agent.wallet_address)).toBe(0n);
    expect(await w.balanceOf(funder.address)).toBe(funderBefore + 25_000_000n);
    const drained = await w.svc.db.outboxEvent.findFirstOrThrow({ where: { type: 'wallet.agent.drained' }, orderBy: { seq: 'desc' } });
    expect((drained.envelope as { data: unknown }).data).toMatchObject({ agent_id: agent.id, amount_micros: '25000000', tx_hash: r.body.tx_hash, to_address: funder.address });

    expect((await call(`${w.url}/agents/${agent.id}/drain`, { headers: me, body: {} })).body).toEqual({ drained: false, amount: '0', tx_hash: null, to_address: null });

    const elsewhere = Wallet.createRandom().address;
    await w.send(funder, agent.wallet_address, 3_000_000n);
    const given = await call(`${w.url}/agents/${agent.id}/drain`, { headers: me, body: { to_address: elsewhere } });
    expect(given.body).toMatchObject({ drained: true, amount: '3000000', to_address: elsewhere });
    expect(await w.balanceOf(elsewhere)).toBe(3_000_000n);

    expect((await call(`${w.url}/agents/${agent.id}/drain`, { headers: me, body: { to_address: 'nope' } })).status).toBe(400);
  });

  it('refuses to drain when there is nowhere to send the USDC', async () => {
    const agent = await newAgent('Orphan Bot');
    const funder = await w.newFunder();
    await w.send(funder, agent.wallet_address, 1_000_000n);
    const r = await call(`${w.url}/agents/${agent.id}/drain`, { headers: me, body: {} });
    expect(r.status).toBe(409);
    expect(r.body.error).toMatch(/no wallet to drain to/);
    expect(await w.balanceOf(agent.wallet_address)).toBe(1_000_000n);
  });

  it('lists every transaction type per agent and across agents, newest first, paginated (spec 001 shape)', async () => {
    const owner = asUser(uniq('tx-user'));
    const a = await newAgent('Tx A', owner);
    const b = await newAgent('Tx B', owner);
    const funder = await w.newFunder();
    const fundHash = await w.send(funder, a.wallet_address, 7_000_000n);
    await fund(a.id, { tx_hash: fundHash }, owner);
    await fund(b.id, { tx_hash: await w.send(funder, b.wallet_address, 1_000_000n) }, owner);
    await call(`${w.url}/agents/${a.id}/drain`, { headers: owner, body: {} });

    const list = await call(`${w.url}/agents/${a.id}/transactions?limit=20&offset=0`, { headers: owner });
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(3);
    expect(list.body.transactions.map((t: { type: string }) => t.type)).toEqual(['drain', 'gas_sponsor', 'fund']);
    expect(list.body.transactions[2]).toEqual({
      id: expect.any(String),
      tx_hash: fundHash,
      type: 'fund',
      from_address: funder.address,
      to_address: a.wallet_address,
      amount: '7000000',
      token: 'USDC',
      timestamp: expect.any(Number),
      agent_id: a.id,
    });
    expect(list.body.transactions[1]).toMatchObject({ type: 'gas_sponsor', token: 'ETH', amount: '2000000000000000', to_address: a.wallet_address });

    const all = await call(`${w.url}/transactions?limit=2`, { headers: owner });
    expect(all.body.total).toBe(5);
    expect(all.body.transactions).toHaveLength(2);
    const rest = await call(`${w.url}/transactions?limit=20&offset=2`, { headers: owner });
    expect(rest.body.transactions).toHaveLength(3);
    expect(new Set([...all.body.transactions, ...rest.body.transactions].map((t: { id: string }) => t.id)).size).toBe(5);

    expect((await call(`${w.url}/transactions?limit=0`, { headers: owner })).body.error).toMatch(/limit must be at least 1/);
    expect((await call(`${w.url}/transactions?limit=101`, { headers: owner })).body.error).toMatch(/limit must be at most 100/);
  });

  it('types a funding from the on-ramp provider as onramp, and hands out on-ramp session URLs (spec 001 shape)', async () => {
    const agent = await newAgent('Onramp Bot');
    const r = await call(`${w.url}/agents/${agent.id}/onramp`, { headers: me, body: { amount: 50 } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ sessionId: expect.stringMatching(/^[0-9a-f-]{36}$/), onrampUrl: expect.any(String) });
    const url = new URL(r.body.onrampUrl);
    expect(url.origin + url.pathname).toBe('https://pay.coinbase.com/buy/select-asset');
    expect(url.searchParams.get('sessionToken')).toBe(`tok_${agent.wallet_address.slice(2, 10)}`);
    expect(url.searchParams.get('presetFiatAmount')).toBe('50');
    const sent = JSON.parse(onramp.requests.at(-1)!.body);
    expect(sent).toEqual({ addresses: [{ address: agent.wallet_address, blockchains: ['base'] }], assets: ['USDC'] });
    expect(onramp.requests.at(-1)!.headers.authorization).toBe('Bearer cdp-test-key');
    expect((await call(`${w.url}/agents/${agent.id}/onramp`, { headers: me, body: { amount: -1 } })).status).toBe(400);

    const sender = await w.newFunder();
    const provider = new Wallet(onrampSender.privateKey, w.provider);
    await w.send(sender, provider.address, 50_000_000n);
    await w.provider.send('hardhat_setBalance', [provider.address, '0xde0b6b3a7640000']);
    const hash = await w.send(provider, agent.wallet_address, 50_000_000n);
    expect((await fund(agent.id, { tx_hash: hash })).status).toBe(200);
    const txs = await call(`${w.url}/agents/${agent.id}/transactions`, { headers: me });
    expect(txs.body.transactions.find((t: { tx_hash: string }) => t.tx_hash === hash).type).toBe('onramp');
  });

  it('waits for the configured confirmations before recording a funding', async () => {
    // 20, not 3: other test files share the node and mine blocks of their own meanwhile.
    const strict = await startWalletsOnChain({ CHAIN_CONFIRMATIONS: '20' });
    try {
      const agent = (await call(`${strict.url}/agents`, { body: { name: 'Patient Bot' }, headers: me })).body;
      const funder = await strict.newFunder();
      const hash = await strict.send(funder, agent.wallet_address, 1_000_000n);
      const early = await call(`${strict.url}/agents/${agent.id}/fund`, { body: { tx_hash: hash }, headers: me });
      expect(early.status).toBe(409);
      expect(early.body.error).toMatch(/has \d+ confirmation\(s\); retry once it has more/);
      await strict.provider.send('hardhat_mine', ['0x14']);
      expect((await call(`${strict.url}/agents/${agent.id}/fund`, { body: { tx_hash: hash }, headers: me })).status).toBe(200);
    } finally {
      await strict.stop();
    }
  });
});
