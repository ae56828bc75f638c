// Prometheus metrics of webhook mode, shaped like Istio's injector (requests, outcomes, duration),
// on a registry of its own (prom-client, as the controller).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

export interface WebhookMetrics {
  readonly registry: Registry;
  readonly admissions: Counter<"path" | "outcome" | "reason">;
  readonly seconds: Histogram<"path">;
  readonly tlsReloads: Counter<"result">;
  readonly clustersSynced: Gauge;
}

export function createWebhookMetrics(): WebhookMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "ceph_mcs_agent_" });
  const registers = [registry];
  return {
    registry,
    admissions: new Counter({
      name: "ceph_mcs_webhook_admissions_total",
      help: "admission reviews by endpoint and outcome (injected, unchanged, skipped, refused, ignored, error)",
      labelNames: ["path", "outcome", "reason"],
      registers,
    }),
    seconds: new Histogram({
      name: "ceph_mcs_webhook_admission_duration_seconds",
      help: "time from the request's first byte to the response, per endpoint",
      labelNames: ["path"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    tlsReloads: new Counter({
      name: "ceph_mcs_webhook_tls_reloads_total",
      help: "serving certificate reloads (ok, or failed: the old one stays in use)",
      labelNames: ["result"],
      registers,
    }),
    clustersSynced: new Gauge({
      name: "ceph_mcs_webhook_cephclusters_synced",
      help: "1 once the CephCluster cache has listed the cluster (the webhook is ready from then on)",
      registers,
    }),
  };
}
