import type { Artifact } from './compile';
// The committed output of scripts/compile.ts; src/artifact.test.ts recompiles and compares.
import testUsdc from '../artifacts/TestUSDC.json';

export const TEST_USDC: Artifact = testUsdc as Artifact;
