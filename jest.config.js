// Unit tests sit beside the code (*.test.ts); integration tests (*.int.test.ts) talk to real
// PostgreSQL, Redis and Kafka; e2e tests run the fleet as separate processes.
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }] };
const common = { transform, testEnvironment: 'node', moduleFileExtensions: ['ts', 'js', 'json'] };
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{libs,services,gateway,infra}/**/src/**/*.test.ts', '<rootDir>/infra/test/**/*.test.ts'], testPathIgnorePatterns: ['/node_modules/', '\\.int\\.test\\.ts$'] },
    // Real databases, chains and child processes on a 2-core machine: a slow hook is load, not a bug.
    { ...common, displayName: 'integration', testTimeout: 30_000, testMatch: ['<rootDir>/{libs,services,gateway,infra}/**/*.int.test.ts', '<rootDir>/e2e/api/**/*.int.test.ts'], testPathIgnorePatterns: ['/node_modules/'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/e2e/**/*.e2e.test.ts'], testPathIgnorePatterns: ['/node_modules/'] },
  ],
};
