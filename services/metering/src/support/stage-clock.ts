/**
 * Where a call's time went, stage by stage, for the `Server-Timing` response header
 * (`lookup;dur=0.12, record;dur=1.30, …`, milliseconds): what an operator or an agent reads to
 * tell the platform's own cost from the provider's.
 */
export class StageClock {
  private last = process.hrtime.bigint();
  private readonly stages: [string, number][] = [];

  /** Ends the current stage under `name` and starts the next. */
  lap(name: string): void {
    const t = process.hrtime.bigint();
    this.stages.push([name, Number(t - this.last) / 1e6]);
    this.last = t;
  }

  header(): string {
    return this.stages.map(([n, ms]) => `${n};dur=${ms.toFixed(2)}`).join(', ');
  }
}
