#!/usr/bin/env node
// Generates every service's Prisma client (or the one whose folder is the cwd).
// The Prisma CLI needs a schema-engine path it cannot download here; generation does not
// run the engine, so any file will do (DESIGN.md "Environment facts").
const { execFileSync } = require('node:child_process');
const { existsSync, readdirSync, writeFileSync, mkdirSync } = require('node:fs');
const { join, resolve } = require('node:path');

const root = resolve(__dirname, '..');
const engine = join(root, '.tmp', 'no-schema-engine');
mkdirSync(join(root, '.tmp'), { recursive: true });
if (!existsSync(engine)) writeFileSync(engine, '');

const here = process.cwd();
const dirs = existsSync(join(here, 'prisma', 'schema.prisma'))
  ? [here]
  : readdirSync(join(root, 'services')).map((s) => join(root, 'services', s)).filter((d) => existsSync(join(d, 'prisma', 'schema.prisma')));

const prismaBin = require.resolve('prisma/build/index.js', { paths: [join(root, 'services', 'identity')] });
for (const dir of dirs) {
  execFileSync(process.execPath, [prismaBin, 'generate', '--schema', 'prisma/schema.prisma'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || engine, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' },
  });
}
console.log(`prisma clients generated for ${dirs.length} service(s)`);
