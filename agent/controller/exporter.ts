// When MCS is turned on under a running cluster, the running mons never pass through init mode, so the
// controller exports their Services at once (Rook's health check fails over any mon without an
// export) and pins their global IPs — with exactly init mode's flow: same waits, cross-checks, pins.
import type { Logger } from "pino";
import { ENV_VARS, loadInitEnv, resolveInitConfig, type CephClusterMcs, type Env } from "../config.ts";
import { NodeDnsResolver } from "../dns/resolver.ts";
import type { InitFilePort } from "../init/files.ts";
import type { InitKubePort } from "../init/kube-port.ts";
import { runInitFlow } from "../init/run.ts";
import type { Clock } from "../ports.ts";

/**
 * Init mode's outputs are files for the daemon's container; here nobody reads them. Its only read is
 * the wrapper it copies (checked to be a shell script): answered so, as no copy is made.
 */
const noFiles: InitFilePort = {
  writeAtomic: () => Promise.resolve(),
  read: () => Promise.resolve("#!/bin/sh\n"),
  remove: () => Promise.resolve(false),
};

const INIT_NAMES = new Set<string>(ENV_VARS.map((v) => v.name));

export interface ExporterDeps {
  kube: InitKubePort;
  clock: Clock;
  log: Logger;
  /** The controller's environment: init mode's tuning variables (DNS, CIDRs, deadline) apply here too. */
  env: Env;
}

/** Exports mon `id`'s Service and returns its pinned global IP. */
export async function exportMon(
  id: string,
  cluster: CephClusterMcs,
  d: ExporterDeps,
  signal: AbortSignal,
): Promise<string> {
  const env: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(d.env)) if (INIT_NAMES.has(name)) env[name] = value;
  Object.assign(env, {
    CEPH_MCS_DAEMON_TYPE: "mon",
    CEPH_MCS_DAEMON_ID: id,
    CEPH_MCS_CEPHCLUSTER: cluster.name,
    CEPH_MCS_CEPHCLUSTER_NAMESPACE: cluster.namespace,
    // Only its family matters here: the controller does not bind anything for the mon.
    POD_IP: d.env.POD_IP ?? (d.env.CEPH_MCS_IP_FAMILY === "6" ? "::1" : "127.0.0.1"),
  });
  const cfg = resolveInitConfig(loadInitEnv(env), cluster);
  const dns = new NodeDnsResolver({
    servers: cfg.dns.servers.length > 0 ? cfg.dns.servers.map((s) => s.server) : undefined,
    timeoutMs: cfg.dns.timeoutMs,
    tries: 2,
  });
  const log = d.log.child({ daemon: `mon.${id}` });
  const deadline = AbortSignal.any([signal, AbortSignal.timeout(cfg.timing.deadlineMs)]);
  const result = await runInitFlow(cfg, { kube: d.kube, dns, files: noFiles, clock: d.clock, log }, deadline);
  if (result === undefined || result.globalIP === null)
    throw new Error(`mon.${id}: no global IP (MCS is disabled)`);
  log.info({ globalIP: result.globalIP }, "exported the running mon's Service and pinned its global IP");
  return result.globalIP;
}
