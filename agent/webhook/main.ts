// Composition root of `ceph-mcs-agent webhook`: config, the CephCluster cache, TLS (reloaded on
// change), the admission and probe servers; runs until SIGTERM/SIGINT, then stops serving cleanly.
import { loadWebhookEnv, processEnv, type WebhookEnv } from "../config.ts";
import { ExitCode } from "../errors.ts";
import { loadKubeConfig } from "../kube/client.ts";
import { createLogger, type Logger } from "../log.ts";
import type { Mode, ReviewContext } from "./admission.ts";
import { startClusterIndex, type ClusterIndex } from "./clusters.ts";
import { createWebhookMetrics, type WebhookMetrics } from "./metrics.ts";
import { startAdmissionServer, startProbeServer, type AdmissionServer, type ProbeServer } from "./server.ts";
import { loadTls, watchTls, type TlsWatcher } from "./tls.ts";

export interface RunningWebhook {
  readonly port: number;
  readonly httpPort?: number;
  stop(): Promise<void>;
}

function contexts(env: WebhookEnv, version: string, clusters: ClusterIndex): (mode: Mode) => ReviewContext {
  const settings = { image: env.image, pullPolicy: env.pullPolicy, version };
  return (mode) => ({ mode, settings, clusterEnabled: (ns) => clusters.enabled(ns) });
}

function tlsWatcher(
  env: WebhookEnv,
  admission: AdmissionServer,
  digest: Parameters<typeof watchTls>[1],
  deps: { log: Logger; metrics: WebhookMetrics },
): TlsWatcher {
  return watchTls(env.tlsDir, digest, {
    onChange: (pair) => {
      admission.setTls(pair);
      deps.metrics.tlsReloads.inc({ result: "ok" });
      deps.log.info({ dir: env.tlsDir }, "serving certificate reloaded");
    },
    onError: (err) => {
      deps.metrics.tlsReloads.inc({ result: "failed" });
      deps.log.error({ err }, "new serving certificate not usable; the previous one stays in service");
    },
  });
}

/** Starts everything; resolves once the admission server listens. */
export async function startWebhook(env: WebhookEnv, version: string, log: Logger): Promise<RunningWebhook> {
  const metrics = createWebhookMetrics();
  const tls = await loadTls(env.tlsDir);
  const kc = loadKubeConfig({ kubeconfigPath: env.kubeconfig, requestTimeoutMs: 10_000 });
  const clusters = startClusterIndex(kc, log.child({ component: "cephclusters" }), () =>
    metrics.clustersSynced.set(1),
  );
  const deps = {
    context: contexts(env, version, clusters),
    metrics,
    log: log.child({ component: "admission" }),
  };
  let admission: AdmissionServer | undefined;
  let probes: ProbeServer | undefined;
  try {
    admission = await startAdmissionServer(env.listen, tls, deps);
    const ready = (): string | undefined =>
      clusters.synced() ? undefined : "CephCluster cache not synced yet";
    probes = env.http ? await startProbeServer(env.http, ready, metrics) : undefined;
  } catch (err) {
    await clusters.stop();
    await admission?.close();
    throw err;
  }
  const watcher = tlsWatcher(env, admission, tls, { log, metrics });
  log.info({ port: admission.port, httpPort: probes?.port, image: env.image }, "admission webhook serving");
  const running = admission;
  return {
    port: running.port,
    ...(probes && { httpPort: probes.port }),
    stop: async () => {
      watcher.stop();
      await Promise.all([running.close(), probes?.close(), clusters.stop()]);
    },
  };
}

export async function runWebhook(version: string): Promise<number> {
  const raw = processEnv();
  const env = loadWebhookEnv(raw);
  const log = createLogger({
    level: env.logLevel,
    pretty: env.logPretty,
    bindings: { pod: env.pod.name, namespace: env.pod.namespace },
  });
  const running = await startWebhook(env, version, log);
  const signal = await new Promise<string>((resolve) => {
    for (const sig of ["SIGTERM", "SIGINT"] as const) process.once(sig, () => resolve(sig));
  });
  log.info({ signal }, "stopping: no new admissions, finishing the ones in flight");
  await running.stop();
  return ExitCode.ok;
}
