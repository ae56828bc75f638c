// Composition root of `ceph-mcs-agent controller`: real adapters in; runs until SIGTERM/SIGINT, then
// stops the leader's work, releases the Lease (the next replica takes over at its next retry), exits 0.
import { systemClock } from "../clock.ts";
import { loadControllerEnv, processEnv, type ControllerEnv, type Env } from "../config.ts";
import { ExitCode } from "../errors.ts";
import { retrying } from "../init/retrying.ts";
import { createClients, type KubeClients } from "../kube/client.ts";
import { controllerKube } from "../kube/controller-kube.ts";
import { initKube } from "../kube/init-kube.ts";
import { leasePort } from "../kube/lease.ts";
import { createLogger, type Logger } from "../log.ts";
import { CephCli } from "../ceph/cli.ts";
import { followUps } from "./followups.ts";
import { startHttp, type Health } from "./http.ts";
import { LeaderElector } from "./leader.ts";
import { createMetrics, type ControllerMetrics } from "./metrics.ts";
import { cephMonmap } from "./monmap-port.ts";
import { Reconciler } from "./reconcile.ts";
import { leaderWork, type WorkDeps } from "./work.ts";

const REQUEST_TIMEOUT_MS = 10_000;
/** A leader whose rounds fail this long reports unhealthy, so the kubelet restarts it. */
const UNHEALTHY_AFTER_MS = 5 * 60_000;

export async function runController(): Promise<number> {
  const raw = processEnv();
  const env = loadControllerEnv(raw);
  const log = createLogger({
    level: env.logLevel,
    pretty: env.logPretty,
    bindings: { pod: env.identity, namespace: env.namespace },
  });
  const clients = await createClients({
    kubeconfigPath: env.kubeconfig,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
  });
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.once("SIGTERM", onSignal);
  process.once("SIGINT", onSignal);
  try {
    await runWithClients({ env, raw, clients, log }, stop.signal);
    return ExitCode.ok;
  } finally {
    await clients.close();
  }
}

interface Ctx {
  env: ControllerEnv;
  raw: Env;
  clients: KubeClients;
  log: Logger;
}

async function runWithClients(ctx: Ctx, signal: AbortSignal): Promise<void> {
  const { env, clients, log } = ctx;
  const metrics = createMetrics();
  const kube = controllerKube(clients, { namespace: env.namespace, cephClusterName: env.cephClusterName });
  const lease = leasePort(clients, { namespace: env.namespace, name: env.leaseName });
  const elector = new LeaderElector(lease, systemClock, { identity: env.identity, timing: env.timing, log });
  // The CLI dials the mon_host the controller keeps in the Secret (the env's is only the start).
  const monHost = (): string | undefined => reconciler.monHost;
  const ceph =
    env.cephCommand && new CephCli({ argv: env.cephCommand, callTimeoutMs: env.cephTimeoutMs, log, monHost });
  const reconciler = new Reconciler({
    kube,
    monmap: ceph && cephMonmap(ceph),
    clock: systemClock,
    log,
    metrics,
    namespace: env.namespace,
    cephClusterName: env.cephClusterName,
    cleanupGraceMs: env.cleanupGraceMs,
    currentTerm: () => elector.term(),
  });
  const progress = { lastRoundAt: 0, failingSince: 0 };
  const after = followUps({
    initKube: (s) => retrying(initKube(clients), s, log),
    kube,
    ceph: ceph || undefined,
    reconciler,
    clock: systemClock,
    log,
    env: ctx.raw,
  });
  const work: WorkDeps = {
    reconciler,
    kube,
    clock: systemClock,
    log,
    metrics,
    resyncMs: env.resyncMs,
    progress,
    afterRound: after,
  };
  const http = env.listen && (await startHttp(env.listen, metrics, health(elector, progress)));
  if (http) log.info({ port: http.port }, "serving /healthz and /metrics");
  try {
    await elector.run(signal, callbacks(work, metrics, log));
  } finally {
    await http?.close();
  }
}

function callbacks(
  work: WorkDeps,
  metrics: ControllerMetrics,
  log: Logger,
): Parameters<LeaderElector["run"]>[1] {
  return {
    onStartedLeading: (term, s) => {
      metrics.leader.set(1);
      return leaderWork(term, s, work);
    },
    onStoppedLeading: () => metrics.leader.set(0),
    onNewLeader: (identity) => {
      metrics.leaderChanges.inc();
      log.info({ leader: identity }, "controller leader");
    },
  };
}

function health(elector: LeaderElector, progress: WorkDeps["progress"]): Health {
  return {
    problem: () => {
      const failing = progress.failingSince && Date.now() - progress.failingSince;
      if (elector.term() && failing && failing > UNHEALTHY_AFTER_MS)
        return `reconcile rounds have been failing for ${Math.round(failing / 1000)} s (see the log)\n`;
      return undefined;
    },
  };
}
