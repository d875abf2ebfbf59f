import { startTracing, stopTracing } from '@platform/telemetry';
// Before express and http load, as in every fleet process's main.ts.
startTracing('agent-commerce-platform');

import { startStandalone, Standalone } from './index';

/** `npm start`: the whole platform in one process on a bare machine (DESIGN rule 5). */
async function main() {
  console.log('Starting the agent commerce platform in standalone mode…');
  const starting = startStandalone();
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the gateway, the services and the databases…`);
    // Past the services' own deadlines (in-flight requests 10 s, outbox 5 s): something hangs.
    setTimeout(() => {
      console.error('shutdown did not finish in 30 s; exiting anyway');
      process.exit(1);
    }, 30_000).unref();
    const platform = await starting.catch(() => undefined);
    await platform?.stop();
    await stopTracing();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const platform = await starting;
  if (!stopping) printSummary(platform);
}

function printSummary(p: Standalone) {
  for (const w of p.warnings) console.warn(`\n  !! STANDALONE MODE: ${w}`);
  if (p.warnings.length) console.warn('');
  console.log(`Agent commerce platform running at ${p.url}`);
  console.log(`  data folder: ${p.dataDir}`);
  console.log(`  secrets (internal token, key pepper, bootstrap admin key, ...): ${p.secretsFile}`);
  console.log(`  events: ${p.bus ? 'in-process bus' : `Kafka (${process.env.KAFKA_BROKERS})`}`);
  console.log(`  rate limits: ${process.env.REDIS_URL ? `Redis (${process.env.REDIS_URL})` : 'in memory'}`);
  if (p.chain) {
    const j = p.chainJournal;
    const kind = j ? `embedded Hardhat node (chain 31337, ${j.replayed ? `${j.replayed} journaled calls replayed` : 'fresh'}; journal ${j.file})` : 'CHAIN_RPC_URL';
    console.log(`  chain: ${kind} ${p.chain.rpcUrl}, USDC ${p.chain.usdcAddress ?? '?'}${p.chain.embedded ? '; faucet: POST /dev/faucet' : ''}`);
  } else console.log('  chain: off (agent wallets answer 503; set CHAIN_RPC_URL or unset STANDALONE_CHAIN=off)');
  for (const s of Object.values(p.services)) {
    console.log(`  ${s.name.padEnd(12)} ${s.url.padEnd(24)} ${s.database === 'embedded' ? 'PGlite database in the data folder' : `${s.name.toUpperCase()}_DATABASE_URL`}`);
  }
  const t = p.timings;
  const rss = Math.round(process.memoryUsage().rss / 1048576);
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const template = t.template > 100 ? `, first-time database template ${s(t.template)}` : '';
  console.log(`  started in ${s(t.total)} (databases ${s(t.databases)}${template}, services ${s(t.services)}, gateway ${s(t.gateway)}); memory ${rss} MB`);
  console.log('Press Ctrl-C to stop.');
}

main().catch((err) => {
  console.error(`standalone platform failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
