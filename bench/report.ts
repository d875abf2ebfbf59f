import type { Latency } from './load';
import type { ProfileSummary } from './profile';

export const TARGETS = ['A', 'B', 'C', 'D', "D'", 'G0', 'G1', 'G2'] as const;
export type TargetName = (typeof TARGETS)[number];

export const LABELS: Record<TargetName, string> = {
  A: 'upstream, direct',
  B: 'bare Node keep-alive proxy',
  C: 'Express + http-proxy-middleware',
  D: 'platform paid call: agent policy + session debit (Kafka)',
  "D'": 'platform paid call: agent policy + session debit, in-process bus',
  G0: 'gateway route, no auth',
  G1: 'gateway route, warm acf_ key',
  G2: 'gateway → bare proxy (two hops, no metering work)',
};

export interface Integrity {
  /** Requests the bench sent to this path (warm-up, rounds, profile run, set-up probe). */
  clientSent: number;
  clientOk: number;
  usageIdsAnswered: number;
  duplicateUsageIds: number;
  records: Record<string, number>;
  /** 2xx answers whose usage id has no completed record. */
  lost: number;
  /** Completed records the client never saw a 2xx for (e.g. it timed out). */
  unacknowledged: number;
  /** Session debits in wallets' ledger (`payment:<usage_id>` on the run's session), and how many of them were refunded. */
  charges: number;
  refunds: number;
  /** Calls still pending, or refunds metering still owes, 30 s after the last request. */
  refundsOwed: number;
  chargedWithoutRecord: number;
  recordsWithoutCharge: number;
  /** Payment entries in wallets that are not debits of the run's session (a balance debit, a lease charge): 0. */
  chargesOffSession: number;
  /** Completed records not paid by the run's session and agent: 0. */
  recordsOffSession: number;
  eventsPublished: number;
  eventsPending: number;
  /** The session's status at the end (`open`). */
  session: string;
  depositMicros: string | null;
  /** The session's ledger balance, and the deposit less the price times the net debits. */
  balanceMicros: string | null;
  expectedBalanceMicros: string;
  /** The session's used_amount and call_count and the agent's total spend: the net debits, each. */
  sessionUsedMicros: string | null;
  sessionCalls: number | null;
  agentSpentMicros: string | null;
  expectedUsedMicros: string;
  netCharges: number;
}

export interface BenchResults {
  machine: { date: string; node: string; platform: string; cpus: number; cpuModel: string; memoryGb: number; loadAverageBefore: number[]; loadAverageAfter: number[] };
  config: Record<string, unknown>;
  openRate: number;
  runs: { target: string; mode: string; seconds: number; sent: number; ok: number; errors: number; failures: Record<string, number>; throughput: number; rate?: number }[];
  closed: Record<TargetName, number[]>;
  open: Record<TargetName, { latency: Latency; sendLagP99: number }>;
  errors: Record<TargetName, { closed: number; open: number; failures: Record<string, number> }>;
  cpuPerRequestUs: Record<'D' | "D'", Record<string, number>>;
  /** Share of one core each component used with no load at all (3 s before the warm-up). */
  idleCpuShare: Record<string, number>;
  /** Failures outside the measured rounds (warm-up, profile run). */
  otherFailures: Record<string, Record<string, number>>;
  outbox: Record<'D' | "D'", { pendingAtEnd: number; drainMs: number }[]>;
  integrity: Record<'D' | "D'", Integrity>;
  profiles: ProfileSummary[];
  /** CPU µs per 2xx of the process each target's requests enter first (closed-loop rounds). */
  frontCpuUs?: Partial<Record<TargetName, number>>;
}

/** A BENCH_TARGETS run without D: only the chosen targets, no paid-call figures. */
export interface SubsetResults {
  machine: BenchResults['machine'];
  config: Record<string, unknown>;
  openRate: number;
  targets: TargetName[];
  closed: Partial<Record<TargetName, number[]>>;
  open: Partial<Record<TargetName, Latency>>;
  errors: Partial<Record<TargetName, number>>;
  frontCpuUs: Partial<Record<TargetName, number>>;
  profiles: ProfileSummary[];
}

const FRONT: Record<TargetName, string> = { A: 'upstream', B: 'bare proxy', C: 'express proxy', D: 'gateway', "D'": 'gateway (in-process bus)', G0: 'gateway', G1: 'gateway', G2: 'gateway' };
const us = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');

function frontCpuTable(targets: readonly TargetName[], cpu: Partial<Record<TargetName, number>>): string {
  return table(
    ['target', '', 'process', 'CPU µs per 2xx'],
    targets.filter((n) => cpu[n] !== undefined).map((n) => [n, LABELS[n], FRONT[n], us(cpu[n])]),
    [false, false, false, true],
  );
}

function profileLines(profiles: ProfileSummary[], fns = 6): string[] {
  const out: string[] = [];
  for (const p of profiles) {
    out.push('');
    out.push(`**${p.process}** — busy ${pct(p.busyShare)} of ${(p.totalMs / 1000).toFixed(1)} s: ${p.byOwner.map((o) => `${o.owner} ${pct(o.share)}`).join(', ')}`);
    out.push('');
    out.push(`hottest functions: ${p.byFunction.slice(0, fns).map((f) => `\`${f.fn}\` ${pct(f.share)}`).join(', ')}`);
  }
  return out;
}

/** The report of a BENCH_TARGETS run (written to the run folder, never to bench/results). */
export function renderSubset(r: SubsetResults): { text: string; markdown: string } {
  const m = r.machine;
  const c = r.config;
  const t = r.targets;
  const max = (n: TargetName) => median(r.closed[n] ?? []);
  const lat = (n: TargetName) => r.open[n];
  const out: string[] = [];
  out.push(`# Benchmark results (targets ${t.join(', ')} only)`, '');
  out.push(`${m.date} · ${m.cpus} × ${m.cpuModel} · Node ${m.node} · load average before ${m.loadAverageBefore.join(' / ')}, after ${m.loadAverageAfter.join(' / ')}`, '');
  out.push(`${c.rounds} interleaved rounds × ${c.seconds} s per target and mode after a ${c.warmupSeconds} s warm-up each; closed loop with ${c.connections} keep-alive connections; open model at ${r.openRate} req/s.`, '');
  out.push(`## Maximum throughput (closed loop, ${c.connections} connections), 2xx per second`, '');
  out.push(
    table(
      ['target', '', 'median', 'min', 'max', 'errors'],
      t.map((n) => [n, LABELS[n], rps(max(n)), rps(Math.min(...(r.closed[n] ?? []))), rps(Math.max(...(r.closed[n] ?? []))), r.errors[n] ?? 0]),
      [false, false, true, true, true, true],
    ),
    '',
  );
  out.push(`## Latency at ${r.openRate} req/s (open model), ms`, '');
  out.push(
    table(
      ['target', '', 'p50', 'p90', 'p99', 'p99.9', 'max', 'samples'],
      t.map((n) => {
        const l = lat(n)!;
        return [n, LABELS[n], ms(l.p50), ms(l.p90), ms(l.p99), ms(l.p999), ms(l.max), l.count];
      }),
      [false, false, true, true, true, true, true, true],
    ),
    '',
  );
  out.push('## CPU of the first process on the path during the closed-loop rounds', '', frontCpuTable(t, r.frontCpuUs), '');
  const rows: string[][] = [];
  const has = (...ns: TargetName[]) => ns.every((n) => t.includes(n));
  if (has('G0', 'G1')) {
    rows.push(['auth cost G1−G0 p50 / p99 (warm key)', `${signedMs(lat('G1')!.p50 - lat('G0')!.p50)} / ${signedMs(lat('G1')!.p99 - lat('G0')!.p99)}`]);
    rows.push(['auth throughput G1/G0', (max('G1') / max('G0')).toFixed(3)]);
  }
  if (has('A', 'G0')) rows.push(['gateway alone G0−A p50 / p99', `${signedMs(lat('G0')!.p50 - lat('A')!.p50)} / ${signedMs(lat('G0')!.p99 - lat('A')!.p99)}`]);
  if (has('A', 'G1')) rows.push(['gateway with a warm key G1−A p50 / p99', `${signedMs(lat('G1')!.p50 - lat('A')!.p50)} / ${signedMs(lat('G1')!.p99 - lat('A')!.p99)}`]);
  for (const g of ['G0', 'G1', 'G2'] as const) for (const p of ['B', 'C'] as const) if (has(g, p)) rows.push([`throughput ${g}/${p}`, (max(g) / max(p)).toFixed(3)]);
  if (has('A', 'G2')) rows.push(['two hops alone G2−A p50 / p99', `${signedMs(lat('G2')!.p50 - lat('A')!.p50)} / ${signedMs(lat('G2')!.p99 - lat('A')!.p99)}`]);
  if (rows.length) out.push('## Comparisons', '', table(['measure', 'value'], rows), '');
  if (r.profiles.length) {
    out.push(`## Where the gateway spends CPU (V8 profile of one extra ${c.seconds} s closed loop, self time)`);
    out.push(...profileLines(r.profiles, 12));
  }
  const text = out.join('\n');
  return { text, markdown: `${text}\n\n## Raw summary (JSON)\n\n\`\`\`json\n${JSON.stringify(r, null, 1)}\n\`\`\`\n` };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '–');
const signedMs = (v: number) => (Number.isFinite(v) ? `${v >= 0 ? '+' : ''}${v.toFixed(2)} ms` : '–');
const rps = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

function table(head: string[], rows: (string | number)[][], right: boolean[] = []): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(3, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (right[i] ? c.padStart(w[i]) : c.padEnd(w[i]))).join(' | ')} |`;
  return [line(head), `| ${w.map((n, i) => (right[i] ? `${'-'.repeat(n - 1)}:` : '-'.repeat(n))).join(' | ')} |`, ...cells.slice(1).map(line)].join('\n');
}

export interface Derived {
  dOverB: number;
  dOverC: number;
  addedP50: number;
  addedP90: number;
  addedP99: number;
  addedP999: number;
  kafkaLoss: number;
  authP50: number;
  authP99: number;
  authThroughputRatio: number;
  gatewayP50: number;
  gatewayP99: number;
  /** G2/B: the throughput any metering behind this gateway could reach at most (its hop doing nothing). */
  ceilingOverB: number;
  twoHopP50: number;
  twoHopP99: number;
  bareP50: number;
  bareP99: number;
  errors: number;
  lostOrDuplicated: number;
}

export function derive(r: BenchResults): Derived {
  const max = (n: TargetName) => median(r.closed[n]);
  const lat = (n: TargetName) => r.open[n].latency;
  const errors = Object.values(r.errors).reduce((s, e) => s + e.closed + e.open, 0);
  const bad = (i: Integrity) =>
    i.lost +
    i.duplicateUsageIds +
    i.chargedWithoutRecord +
    i.recordsWithoutCharge +
    i.chargesOffSession +
    i.recordsOffSession +
    (i.balanceMicros === i.expectedBalanceMicros ? 0 : 1) +
    (i.sessionUsedMicros === i.expectedUsedMicros && i.agentSpentMicros === i.expectedUsedMicros && i.sessionCalls === i.netCharges ? 0 : 1);
  return {
    dOverB: max('D') / max('B'),
    dOverC: max('D') / max('C'),
    addedP50: lat('D').p50 - lat('A').p50,
    addedP90: lat('D').p90 - lat('A').p90,
    addedP99: lat('D').p99 - lat('A').p99,
    addedP999: lat('D').p999 - lat('A').p999,
    kafkaLoss: 1 - max('D') / max("D'"),
    authP50: lat('G1').p50 - lat('G0').p50,
    authP99: lat('G1').p99 - lat('G0').p99,
    authThroughputRatio: max('G1') / max('G0'),
    gatewayP50: lat('G0').p50 - lat('A').p50,
    gatewayP99: lat('G0').p99 - lat('A').p99,
    ceilingOverB: max('G2') / max('B'),
    twoHopP50: lat('G2').p50 - lat('A').p50,
    twoHopP99: lat('G2').p99 - lat('A').p99,
    bareP50: lat('B').p50 - lat('A').p50,
    bareP99: lat('B').p99 - lat('A').p99,
    errors,
    lostOrDuplicated: bad(r.integrity.D) + bad(r.integrity["D'"]),
  };
}

const verdict = (ok: boolean) => (ok ? 'target met' : 'TARGET MISSED');

export function render(r: BenchResults): { text: string; markdown: string; derived: Derived } {
  const d = derive(r);
  const m = r.machine;
  const c = r.config;
  const out: string[] = [];
  out.push(`# Benchmark results`);
  out.push('');
  out.push(
    `${m.date} · ${m.cpus} × ${m.cpuModel} · ${m.memoryGb} GB · Node ${m.node} · ${m.platform} · load average before ${m.loadAverageBefore.join(' / ')}, after ${m.loadAverageAfter.join(' / ')}`,
  );
  out.push('');
  out.push(
    `${c.rounds} interleaved rounds × ${c.seconds} s per target and mode after a ${c.warmupSeconds} s warm-up each; closed loop with ${c.connections} keep-alive connections; ` +
      `open model at ${r.openRate} req/s (${Math.round(Number(c.loadFraction) * 100)}% of D's median maximum), latency from the scheduled send time; ` +
      `POST with a ${'{"text":"Analyze this benchmark call"}'.length}-byte JSON body; services at LOG_LEVEL=${c.logLevel}, tracing off; price ${c.price} USDC per call, no free tier, one buyer whose agent pays every D call from one payment session under its policy; ` +
      `rate limits still checked in Redis but set not to throttle: per IP ${Number(c.ipRateLimitPerMin).toLocaleString('en-US')}/min, the keys' rate_limit ${Number(c.keyRateLimitPerMin).toLocaleString('en-US')}/min.`,
  );
  out.push('');
  out.push(`## Maximum throughput (closed loop, ${c.connections} connections), 2xx per second`);
  out.push('');
  out.push(
    table(
      ['target', '', 'median', 'min', 'max', 'errors'],
      TARGETS.map((n) => [n, LABELS[n], rps(median(r.closed[n])), rps(Math.min(...r.closed[n])), rps(Math.max(...r.closed[n])), r.errors[n].closed]),
      [false, false, true, true, true, true],
    ),
  );
  out.push('');
  out.push(`## Latency at ${r.openRate} req/s (open model), ms`);
  out.push('');
  out.push(
    table(
      ['target', '', 'p50', 'p90', 'p99', 'p99.9', 'max', 'samples', 'errors', 'send lag p99'],
      TARGETS.map((n) => {
        const l = r.open[n].latency;
        return [n, LABELS[n], ms(l.p50), ms(l.p90), ms(l.p99), ms(l.p999), ms(l.max), l.count, r.errors[n].open, ms(r.open[n].sendLagP99)];
      }),
      [false, false, true, true, true, true, true, true, true, true],
    ),
  );
  out.push('');
  out.push('"send lag" is how late the generator itself sent a request after its scheduled time; it is included in every latency above.');
  out.push('');
  out.push('## Comparisons and targets');
  out.push('');
  const dMax = median(r.closed.D);
  const dpMax = median(r.closed["D'"]);
  const integrityBad = d.lostOrDuplicated;
  out.push(
    table(
      ['measure', 'value', 'target', ''],
      [
        ['throughput D/B', d.dOverB.toFixed(3), '≥ 0.6', verdict(d.dOverB >= 0.6)],
        ['throughput D/C', d.dOverC.toFixed(3), '', ''],
        [`added latency D−A p50 at ${r.openRate} req/s`, signedMs(d.addedP50), '≤ 1 ms', verdict(d.addedP50 <= 1)],
        [`added latency D−A p99 at ${r.openRate} req/s`, signedMs(d.addedP99), '≤ 2 ms', verdict(d.addedP99 <= 2)],
        ['added latency D−A p90 / p99.9', `${signedMs(d.addedP90)} / ${signedMs(d.addedP999)}`, '', ''],
        ["Kafka vs in-process bus (1 − D/D')", `${pct(d.kafkaLoss)} (D ${rps(dMax)}, D' ${rps(dpMax)} req/s)`, '≤ 5%', verdict(d.kafkaLoss <= 0.05)],
        ['auth cost G1−G0 p50 / p99 (warm key)', `${signedMs(d.authP50)} / ${signedMs(d.authP99)}`, '', ''],
        ['auth throughput G1/G0', d.authThroughputRatio.toFixed(3), '', ''],
        ['gateway alone G0−A p50 / p99', `${signedMs(d.gatewayP50)} / ${signedMs(d.gatewayP99)}`, '', ''],
        ['ceiling of any metering behind this gateway: G2/B (gateway → a proxy doing nothing)', d.ceilingOverB.toFixed(3), '', ''],
        ['two hops doing nothing G2−A p50 / p99', `${signedMs(d.twoHopP50)} / ${signedMs(d.twoHopP99)}`, '', ''],
        ['one bare proxy hop B−A p50 / p99', `${signedMs(d.bareP50)} / ${signedMs(d.bareP99)}`, '', ''],
        ['errors, all targets and runs', String(d.errors), '0', verdict(d.errors === 0)],
        ['lost or duplicated usage records / charges', String(integrityBad), '0', verdict(integrityBad === 0)],
      ],
    ),
  );
  out.push('');
  const errs = TARGETS.filter((n) => Object.keys(r.errors[n].failures).length).map((n) => `${n}: ${JSON.stringify(r.errors[n].failures)}`);
  if (errs.length) out.push(`Failures by status or error code: ${errs.join('; ')}`, '');
  const other = Object.entries(r.otherFailures).map(([n, f]) => `${n}: ${JSON.stringify(f)}`);
  if (other.length) out.push(`Failures during warm-up or the profile run (not in the counts above): ${other.join('; ')}`, '');
  out.push('## Usage records (every request the bench sent to D and D\', warm-up included)');
  out.push('');
  const I = r.integrity;
  const row = (label: string, f: (i: Integrity) => string | number) => [label, String(f(I.D)), String(f(I["D'"]))];
  out.push(
    table(
      ['', 'D (Kafka)', "D' (in-process bus)"],
      [
        row('requests sent / answered 2xx', (i) => `${i.clientSent} / ${i.clientOk}`),
        row('distinct X-ACF-Usage-Id answered / answered twice', (i) => `${i.usageIdsAnswered} / ${i.duplicateUsageIds}`),
        row('usage records by status', (i) => JSON.stringify(i.records)),
        row('2xx without a completed record (lost)', (i) => i.lost),
        row('completed records the client saw no 2xx for', (i) => i.unacknowledged),
        row('session debits in wallets / of them refunded', (i) => `${i.charges} / ${i.refunds}`),
        row('calls pending or refunds still owed 30 s after the last call', (i) => i.refundsOwed),
        row('other unrefunded debits without a completed record / completed records without a debit', (i) => `${i.chargedWithoutRecord} / ${i.recordsWithoutCharge}`),
        row('payments not from the session / completed records not paid by the session and agent', (i) => `${i.chargesOffSession} / ${i.recordsOffSession}`),
        row('service.called events published / still in outbox', (i) => `${i.eventsPublished} / ${i.eventsPending}`),
        row('session at the end / deposit (micro-USDC)', (i) => `${i.session} / ${i.depositMicros}`),
        row('session balance (micro-USDC) / expected: deposit − price × net debits', (i) => `${i.balanceMicros} / ${i.expectedBalanceMicros}`),
        row('session used_amount / agent spend / expected: price × net debits', (i) => `${i.sessionUsedMicros} / ${i.agentSpentMicros} / ${i.expectedUsedMicros}`),
        row('session call_count / net debits', (i) => `${i.sessionCalls} / ${i.netCharges}`),
      ],
    ),
  );
  out.push('');
  const ob = (n: 'D' | "D'") => {
    const xs = r.outbox[n];
    return `${n}: up to ${Math.max(0, ...xs.map((x) => x.pendingAtEnd))} events unpublished at the end of a run, caught up within ${Math.max(0, ...xs.map((x) => x.drainMs))} ms`;
  };
  out.push(`Outbox relays (metering + wallets): ${ob('D')}; ${ob("D'")}. The next run starts only after they caught up.`);
  out.push('');
  out.push('## CPU per paid call during the closed-loop rounds, µs (from /proc)');
  out.push('');
  const comps = [...new Set([...Object.keys(r.cpuPerRequestUs.D), ...Object.keys(r.cpuPerRequestUs["D'"])])].filter(
    (k) => (r.cpuPerRequestUs.D[k] ?? 0) + (r.cpuPerRequestUs["D'"][k] ?? 0) > 0.5,
  );
  const total = (n: 'D' | "D'") => Object.values(r.cpuPerRequestUs[n]).reduce((s, v) => s + v, 0);
  const idle = (k: string) => (r.idleCpuShare[k] === undefined ? '' : pct(r.idleCpuShare[k]));
  out.push(
    table(
      ['component', 'D (Kafka)', "D' (in-process bus)", 'idle, share of a core'],
      [
        ...comps.map((k) => [k, Math.round(r.cpuPerRequestUs.D[k] ?? 0), Math.round(r.cpuPerRequestUs["D'"][k] ?? 0), idle(k)]),
        ['total', Math.round(total('D')), Math.round(total("D'")), pct(Object.values(r.idleCpuShare).reduce((a, b) => a + b, 0))],
      ],
      [false, true, true, true],
    ),
  );
  out.push('');
  out.push(
    'Every process stays up for the whole run, so a column also carries the idle cost of the processes the other path uses (outbox polls, Kafka consumers); ' +
      'the last column is that idle cost with no load at all. "rest of machine" is everything else that ran meanwhile, other users of the machine included.',
  );
  if (r.frontCpuUs) {
    out.push('');
    out.push('## CPU of the first process on each path during the closed-loop rounds');
    out.push('');
    out.push(frontCpuTable(TARGETS, r.frontCpuUs));
  }
  if (r.profiles.length) {
    out.push('');
    out.push(`## Where D's processes spend CPU (V8 profile of one extra ${c.seconds} s closed loop, self time)`);
    out.push(...profileLines(r.profiles));
  }
  const text = out.join('\n');
  const json = JSON.stringify({ ...r, derived: d }, null, 1);
  const markdown = `${text}\n\n## Raw summary (JSON)\n\n\`\`\`json\n${json}\n\`\`\`\n`;
  return { text, markdown, derived: d };
}
