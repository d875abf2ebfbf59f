import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';

const docs = parseAllDocuments(readFileSync(path.resolve(__dirname, '..', 'k8s', 'platform.yaml'), 'utf8')).map((d) => d.toJSON());
const byKind = (kind: string) => docs.filter((d) => d?.kind === kind);

describe('Kubernetes manifests', () => {
  const names = ['identity', 'wallets', 'marketplace', 'metering', 'reputation', 'settlements', 'runtime', 'webhooks', 'gateway'];

  it.each(names)('deploys %s with readiness and liveness probes and a Service', (name) => {
    const d = byKind('Deployment').find((x) => x.metadata.name === name);
    const c = d.spec.template.spec.containers[0];
    expect(c.readinessProbe.httpGet.path).toBe(name === 'gateway' ? '/health' : '/ready');
    expect(c.livenessProbe.httpGet.path).toBe('/health');
    expect(byKind('Service').some((s) => s.metadata.name === name)).toBe(true);
  });

  it('scales the metering tier with its own HorizontalPodAutoscaler', () => {
    const hpa = byKind('HorizontalPodAutoscaler').find((h) => h.spec.scaleTargetRef.name === 'metering');
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
  });

  it('keeps secrets out of the manifests', () => {
    for (const d of byKind('Deployment')) {
      for (const e of d.spec.template.spec.containers[0].env) {
        if (/SECRET|KEY|DATABASE_URL|REDIS_URL/.test(e.name)) expect(e.valueFrom?.secretKeyRef).toBeDefined();
      }
    }
  });
});
