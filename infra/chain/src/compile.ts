import { readFileSync } from 'node:fs';
import path from 'node:path';
import solc from 'solc';

export const CONTRACTS_DIR = path.join(__dirname, '..', 'contracts');
export const ARTIFACTS_DIR = path.join(__dirname, '..', 'artifacts');

export interface Artifact {
  contractName: string;
  sourceName: string;
  /** The solc-js version that produced it (the `solc` npm package, never a downloaded compiler). */
  compiler: string;
  settings: { optimizer: { enabled: boolean; runs: number }; evmVersion: string };
  abi: unknown[];
  bytecode: string;
}

/** Cancun: what Base runs and what Hardhat 2's default hardfork executes. */
const SETTINGS: Artifact['settings'] = { optimizer: { enabled: true, runs: 200 }, evmVersion: 'cancun' };

/**
 * Compiles a contract in contracts/ with solc-js (the `solc` package, WebAssembly; no
 * compiler download). Throws with solc's messages on any error.
 */
export function compileContract(contractName: string, sourceName = `${contractName}.sol`): Artifact {
  const input = {
    language: 'Solidity',
    sources: { [sourceName]: { content: readFileSync(path.join(CONTRACTS_DIR, sourceName), 'utf8') } },
    settings: { ...SETTINGS, outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as {
    errors?: { severity: string; formattedMessage: string }[];
    contracts?: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length) throw new Error(`solc failed to compile ${sourceName}:\n${errors.map((e) => e.formattedMessage).join('\n')}`);
  const compiled = output.contracts?.[sourceName]?.[contractName];
  if (!compiled) throw new Error(`solc produced no contract ${contractName} from ${sourceName}`);
  return { contractName, sourceName, compiler: solc.version(), settings: SETTINGS, abi: compiled.abi, bytecode: `0x${compiled.evm.bytecode.object}` };
}

export const artifactPath = (contractName: string) => path.join(ARTIFACTS_DIR, `${contractName}.json`);
