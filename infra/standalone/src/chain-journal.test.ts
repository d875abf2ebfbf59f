import { changesChainState } from './chain-journal';

describe('which JSON-RPC calls the standalone chain journals', () => {
  it('journals transactions and every Hardhat/EVM extension that can change state', () => {
    for (const m of ['eth_sendRawTransaction', 'eth_sendTransaction', 'evm_mine', 'evm_increaseTime', 'evm_setNextBlockTimestamp', 'evm_snapshot', 'evm_revert', 'hardhat_setBalance', 'hardhat_mine', 'hardhat_setCode', 'hardhat_impersonateAccount']) {
      expect({ m, journaled: changesChainState(m) }).toEqual({ m, journaled: true });
    }
  });

  it('passes reads through unjournaled', () => {
    for (const m of ['eth_call', 'eth_estimateGas', 'eth_getBalance', 'eth_getTransactionReceipt', 'eth_blockNumber', 'eth_chainId', 'eth_getLogs', 'hardhat_metadata', 'hardhat_getAutomine']) {
      expect({ m, journaled: changesChainState(m) }).toEqual({ m, journaled: false });
    }
  });
});
