/**
 * The local chain's configuration: Hardhat 2's in-memory network, chain id 31337, mining
 * every transaction at once. Contracts are compiled with solc-js (scripts/compile.ts), not
 * Hardhat, so no compiler download is ever attempted.
 */
module.exports = {
  networks: {
    hardhat: {
      chainId: 31337,
      // Hardhat's default test accounts stay; the deploy step funds the treasury with
      // hardhat_setBalance instead, so any TREASURY_PRIVATE_KEY works.
      mining: { auto: true, interval: 0 },
      // Like a real node: a reverting transaction is mined (status 0) and its hash returned,
      // so failed-transaction handling is tested as it happens on Base.
      throwOnTransactionFailures: false,
      // Automine makes a block per transaction; without this each block's timestamp would be at
      // least one second after the last, and a busy test run would push chain time ahead of the
      // wall clock (then EIP-3009 validity windows computed from the clock look expired).
      allowBlocksWithSameTimestamp: true,
      // The genesis block's time (ISO date) when set, so a replayed chain (standalone mode's
      // journal) has the same genesis hash and therefore the same block hashes.
      ...(process.env.HARDHAT_INITIAL_DATE ? { initialDate: process.env.HARDHAT_INITIAL_DATE } : {}),
    },
  },
};
