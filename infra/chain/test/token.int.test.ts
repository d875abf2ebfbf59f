import { Contract, HDNodeWallet, JsonRpcProvider, Signature, Wallet, hexlify, parseEther, randomBytes, toBeHex } from 'ethers';
import { startTestChain, TestChain, TEST_USDC } from '../src';

jest.setTimeout(60_000);

/** The test USDC on a real Hardhat node: ERC-20 basics and EIP-3009 authorizations. */
describe('TestUSDC on the local chain', () => {
  let chain: TestChain;
  let provider: JsonRpcProvider;
  let treasury: Wallet;
  let usdc: Contract;
  const payer = Wallet.createRandom();
  const payee = Wallet.createRandom();
  const relayer = Wallet.createRandom();

  beforeAll(async () => {
    chain = await startTestChain();
    provider = new JsonRpcProvider(chain.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1, pollingInterval: 100 });
    treasury = new Wallet(chain.treasuryPrivateKey, provider);
    usdc = new Contract(chain.usdcAddress, TEST_USDC.abi as never, treasury);
    await provider.send('hardhat_setBalance', [relayer.address, toBeHex(parseEther('1'))]);
    await provider.send('hardhat_setBalance', [payee.address, toBeHex(parseEther('1'))]);
    await (await usdc.transfer(payer.address, 10_000_000n)).wait();
  });
  afterAll(async () => {
    provider?.destroy();
    await chain?.stop();
  });

  const domain = async () => ({ name: 'USD Coin', version: '2', chainId: chain.chainId, verifyingContract: chain.usdcAddress });
  const types = (primary: 'TransferWithAuthorization' | 'ReceiveWithAuthorization') => ({
    [primary]: [
      { name: 'from', type: 'address' },
      { name: 'to', type: 'address' },
      { name: 'value', type: 'uint256' },
      { name: 'validAfter', type: 'uint256' },
      { name: 'validBefore', type: 'uint256' },
      { name: 'nonce', type: 'bytes32' },
    ],
  });
  async function authorize(signer: Wallet | HDNodeWallet, to: string, value: bigint, opts: { primary?: 'TransferWithAuthorization' | 'ReceiveWithAuthorization'; validBefore?: bigint } = {}) {
    const message = { from: signer.address, to, value, validAfter: 0n, validBefore: opts.validBefore ?? BigInt(Math.floor(Date.now() / 1000) + 3600), nonce: hexlify(randomBytes(32)) };
    const signature = Signature.from(await signer.signTypedData(await domain(), types(opts.primary ?? 'TransferWithAuthorization'), message));
    return { message, signature };
  }
  const asRelayer = () => usdc.connect(relayer.connect(provider)) as Contract;
  const args = (a: Awaited<ReturnType<typeof authorize>>) => [a.message.from, a.message.to, a.message.value, a.message.validAfter, a.message.validBefore, a.message.nonce] as const;

  it('is a 6-decimal ERC-20 whose deployer holds the supply and alone may mint', async () => {
    expect(await usdc.decimals()).toBe(6n);
    expect(await usdc.symbol()).toBe('USDC');
    expect(await usdc.balanceOf(payer.address)).toBe(10_000_000n);
    await expect(asRelayer().mint(relayer.address, 1n)).rejects.toThrow(/not the minter/);
    const domainSeparator = await usdc.DOMAIN_SEPARATOR();
    expect(domainSeparator).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it('moves funds with a transferWithAuthorization any relayer submits, exactly once', async () => {
    const a = await authorize(payer, payee.address, 1_500_000n);
    const tx = await asRelayer()['transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)'](...args(a), a.signature.v, a.signature.r, a.signature.s);
    const receipt = await tx.wait();
    expect(receipt.status).toBe(1);
    expect(await usdc.balanceOf(payee.address)).toBe(1_500_000n);
    expect(await usdc.authorizationState(payer.address, a.message.nonce)).toBe(true);
    const used = receipt.logs.map((l: { topics: string[]; data: string }) => usdc.interface.parseLog(l)).find((l: { name: string } | null) => l?.name === 'AuthorizationUsed');
    expect(used.args.nonce).toBe(a.message.nonce);

    await expect(
      asRelayer()['transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)'](...args(a), a.signature.v, a.signature.r, a.signature.s),
    ).rejects.toThrow(/used or canceled/);
  });

  it('accepts the packed 65-byte signature form (x402 facilitators)', async () => {
    const a = await authorize(payer, payee.address, 100n);
    await (await asRelayer()['transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)'](...args(a), a.signature.serialized)).wait();
    expect(await usdc.authorizationState(payer.address, a.message.nonce)).toBe(true);
  });

  it('refuses a forged signer, a changed amount and an expired authorization', async () => {
    const forged = await authorize(payee, payee.address, 1n);
    const call = asRelayer()['transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)'];
    await expect(call(payer.address, payee.address, 1n, 0n, forged.message.validBefore, forged.message.nonce, forged.signature.v, forged.signature.r, forged.signature.s)).rejects.toThrow(/invalid signature/);

    const a = await authorize(payer, payee.address, 10n);
    await expect(call(payer.address, payee.address, 11n, 0n, a.message.validBefore, a.message.nonce, a.signature.v, a.signature.r, a.signature.s)).rejects.toThrow(/invalid signature/);

    const expired = await authorize(payer, payee.address, 10n, { validBefore: 1n });
    await expect(call(...args(expired), expired.signature.v, expired.signature.r, expired.signature.s)).rejects.toThrow(/expired/);
    expect(await usdc.authorizationState(payer.address, a.message.nonce)).toBe(false);
  });

  it('lets only the payee submit a receiveWithAuthorization, and honours cancellation', async () => {
    const a = await authorize(payer, payee.address, 20n, { primary: 'ReceiveWithAuthorization' });
    await expect(asRelayer().receiveWithAuthorization(...args(a), a.signature.v, a.signature.r, a.signature.s)).rejects.toThrow(/payee/);
    const before = await usdc.balanceOf(payee.address);
    await (await (usdc.connect(payee.connect(provider)) as Contract).receiveWithAuthorization(...args(a), a.signature.v, a.signature.r, a.signature.s)).wait();
    expect(await usdc.balanceOf(payee.address)).toBe(before + 20n);

    const b = await authorize(payer, payee.address, 5n);
    const cancel = Signature.from(
      await payer.signTypedData(await domain(), { CancelAuthorization: [{ name: 'authorizer', type: 'address' }, { name: 'nonce', type: 'bytes32' }] }, { authorizer: payer.address, nonce: b.message.nonce }),
    );
    await (await asRelayer().cancelAuthorization(payer.address, b.message.nonce, cancel.v, cancel.r, cancel.s)).wait();
    await expect(
      asRelayer()['transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,uint8,bytes32,bytes32)'](...args(b), b.signature.v, b.signature.r, b.signature.s),
    ).rejects.toThrow(/used or canceled/);
  });
});
