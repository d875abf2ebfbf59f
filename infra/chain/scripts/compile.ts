/**
 * Recompiles the token with solc-js and rewrites artifacts/TestUSDC.json, the committed
 * artifact everything deploys. src/artifact.test.ts fails when the two differ, so an edit to
 * the Solidity source without running this is caught.
 *   pnpm --filter @platform/chain compile
 */
import { writeFileSync } from 'node:fs';
import { artifactPath, compileContract } from '../src/compile';

const artifact = compileContract('TestUSDC');
writeFileSync(artifactPath('TestUSDC'), `${JSON.stringify(artifact, null, 2)}\n`);
console.log(`wrote ${artifactPath('TestUSDC')} (${artifact.compiler}, ${(artifact.bytecode.length - 2) / 2} bytes of bytecode)`);
