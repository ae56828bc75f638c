// One init-mode scenario on the real control plane: a namespace with a CephCluster, the shipped init
// Role bound to a ServiceAccount, a real DNS server for clusterset.local fed by the emulated MCS
// controller, and a runner that starts the agent as a real process, as the kubelet would.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, CustomObjectsApi, type V1PolicyRule, type V1Role } from "@kubernetes/client-node";
import { ROOT, sharedControlPlane, type ControlPlane } from "./controlplane.ts";
import { startDnsmasq, type Dnsmasq } from "./dns.ts";
import { grantShippedRole, shippedRole } from "./rbac.ts";
import { startEmulator, type Emulator, type EmulatorOptions } from "../emulator/mcs-controller.ts";
import type { InitResult } from "../../agent/init/files.ts";

export const NODE = join(ROOT, "node_modules/.bin/node");
export const CLI = join(ROOT, "agent/cli.ts");
export const WRAPPER = join(ROOT, "images/ceph-mcs-exec");
const SA = "ceph-mcs-agent-init";

export interface ScenarioOptions {
  emulator?: Omit<EmulatorOptions, "kubeConfig" | "namespace">;
  /** spec.network.multiClusterService; default enabled with clusterID cluster-a. */
  mcs?: Record<string, unknown> | null;
  requireMsgr2?: boolean;
  /** Drops rules from the shipped Role (RBAC minimality tests). */
  roleFilter?: (rule: V1PolicyRule, index: number) => boolean;
  dnsListen?: string;
}

export interface Daemon {
  type: "mon" | "osd";
  id: string;
}

export const MON: Daemon = { type: "mon", id: "a" };
export const OSD: Daemon = { type: "osd", id: "0" };

export interface AgentRun {
  code: number | null;
  logs: Record<string, unknown>[];
  stderr: string;
  dir: string;
  publicAddr: string | undefined;
  result: InitResult | undefined;
  wrapperInstalled: boolean;
  terminationMessage: string | undefined;
  ms: number;
}

export interface Scenario {
  cp: ControlPlane;
  ns: string;
  dns: Dnsmasq;
  emulator: Emulator | undefined;
  podIP(d: Daemon): string;
  /** Starts `ceph-mcs-agent init` for the daemon; `dir` reuses an earlier run's shared folder. */
  run(d: Daemon, env?: Record<string, string>, dir?: string): Promise<AgentRun>;
  stop(): Promise<void>;
}

export function initRole(filter?: ScenarioOptions["roleFilter"]): Promise<V1Role> {
  return shippedRole("init-role.yaml", filter);
}

export function grantInitRole(
  cp: ControlPlane,
  ns: string,
  filter: ScenarioOptions["roleFilter"],
): Promise<string> {
  return grantShippedRole(cp, ns, { file: "init-role.yaml", sa: SA, filter });
}

/** Creates CephCluster "my-cluster"; returns its uid (owner references point at it). */
export async function createCephCluster(
  cp: ControlPlane,
  ns: string,
  opts: ScenarioOptions,
): Promise<string> {
  const mcs = opts.mcs === undefined ? { enabled: true, clusterID: "cluster-a" } : opts.mcs;
  const network: Record<string, unknown> = { connections: { requireMsgr2: opts.requireMsgr2 ?? false } };
  if (mcs !== null) network.multiClusterService = mcs;
  const created = (await cp
    .admin()
    .makeApiClient(CustomObjectsApi)
    .createNamespacedCustomObject({
      group: "ceph.rook.io",
      version: "v1",
      namespace: ns,
      plural: "cephclusters",
      body: {
        apiVersion: "ceph.rook.io/v1",
        kind: "CephCluster",
        metadata: { name: "my-cluster" },
        spec: { network },
      },
    })) as { metadata: { uid: string } };
  return created.metadata.uid;
}

/** The daemon's pod as Rook labels it (never scheduled: no kubelet runs), for Events and labels. */
export async function createPod(
  cp: ControlPlane,
  ns: string,
  d: Daemon,
  ip: string,
): Promise<{ name: string; uid: string }> {
  const name = `rook-ceph-${d.type}-${d.id}-0`;
  const labels = { app: `rook-ceph-${d.type}`, ceph_daemon_type: d.type, ceph_daemon_id: d.id };
  const core = cp.admin().makeApiClient(CoreV1Api);
  await core
    .createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name, labels, annotations: { "test/pod-ip": ip } },
        spec: { containers: [{ name: d.type, image: "ceph" }] },
      },
    })
    .catch((err: unknown) => {
      if ((err as { code?: number }).code !== 409) throw err;
    });
  const pod = await core.readNamespacedPod({ namespace: ns, name });
  return { name, uid: pod.metadata?.uid ?? "" };
}

export async function startScenario(opts: ScenarioOptions = {}): Promise<Scenario> {
  const cp = await sharedControlPlane();
  const ns = await cp.newNamespace("init");
  await createCephCluster(cp, ns, opts);
  const kubeconfig = await grantInitRole(cp, ns, opts.roleFilter);
  const dns = await startDnsmasq({ listen: opts.dnsListen ?? "127.0.0.1" });
  const emulator = opts.emulator
    ? await startEmulator({
        ...opts.emulator,
        kubeConfig: cp.admin(),
        namespace: ns,
        onDnsRecord: (name, addrs) => void dns.setRecord(name, addrs).catch(() => undefined),
        onDnsRemove: (name) => void dns.removeRecord(name).catch(() => undefined),
      }).catch(async (err: unknown) => {
        await dns.stop();
        throw err;
      })
    : undefined;
  const dirs: string[] = [];
  const podIP = (d: Daemon): string =>
    `10.244.0.${d.type === "mon" ? 10 + d.id.charCodeAt(0) - 97 : 100 + Number(d.id)}`;
  return {
    cp,
    ns,
    dns,
    emulator,
    podIP,
    async run(d, env = {}, dir) {
      const out = dir ?? (await mkdtemp(join(tmpdir(), "ceph-mcs-run-")));
      if (!dir) dirs.push(out);
      const pod = await createPod(cp, ns, d, podIP(d));
      return runAgent(
        { ...baseEnv({ ns, pod, d, ip: podIP(d), kubeconfig, dns: dns.server, dir: out }), ...env },
        out,
      );
    },
    async stop() {
      await emulator?.stop();
      await dns.stop();
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    },
  };
}

interface BaseEnvInput {
  ns: string;
  pod: { name: string; uid: string };
  d: Daemon;
  ip: string;
  kubeconfig: string;
  dns: string;
  dir: string;
}

function baseEnv(i: BaseEnvInput): Record<string, string> {
  return {
    POD_NAME: i.pod.name,
    POD_UID: i.pod.uid,
    POD_NAMESPACE: i.ns,
    POD_IP: i.ip,
    NODE_NAME: "node-1",
    KUBECONFIG: i.kubeconfig,
    CEPH_MCS_DAEMON_TYPE: i.d.type,
    CEPH_MCS_DAEMON_ID: i.d.id,
    CEPH_MCS_CEPHCLUSTER: "my-cluster",
    CEPH_MCS_DNS_SERVERS: i.dns,
    CEPH_MCS_DNS_TIMEOUT_MS: "500",
    CEPH_MCS_DEADLINE_SECONDS: "20",
    CEPH_MCS_WARN_AFTER_SECONDS: "5",
    CEPH_MCS_READY_GRACE_SECONDS: "2",
    CEPH_MCS_DIR: i.dir,
    CEPH_MCS_WRAPPER: WRAPPER,
    CEPH_MCS_TERMINATION_LOG: join(i.dir, "termination-log"),
  };
}

/**
 * Runs `ceph-mcs-agent init` with exactly `env` (plus PATH), as an init container would; `prefix`
 * wraps the command (the e2e runs it inside a pod's network namespace: `ip netns exec <ns>`).
 */
export async function runAgent(
  env: Record<string, string>,
  dir: string,
  prefix: readonly string[] = [],
): Promise<AgentRun> {
  const started = Date.now();
  const argv = [...prefix, NODE, CLI, "init"];
  const child = spawn(argv[0]!, argv.slice(1), {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  const read = (f: string): Promise<string | undefined> =>
    readFile(join(dir, f), "utf8").catch(() => undefined);
  const result = await read("result.json");
  return {
    code,
    logs: stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>),
    stderr,
    dir,
    publicAddr: (await read("public-addr"))?.trim(),
    result: result === undefined ? undefined : (JSON.parse(result) as InitResult),
    wrapperInstalled: existsSync(join(dir, "ceph-mcs-exec")),
    terminationMessage: await read("termination-log"),
    ms: Date.now() - started,
  };
}

/** The last log line's message, for assertion messages. */
export function lastLog(run: AgentRun): string {
  const last = run.logs.filter((l) => l.level === "error").at(-1) ?? run.logs.at(-1);
  const msg = last?.msg;
  return `exit ${run.code}: ${typeof msg === "string" ? msg : run.stderr}`;
}

/** Runs `body` in a fresh scenario and always cleans it up. */
export async function withScenario(
  opts: ScenarioOptions,
  body: (s: Scenario) => Promise<void>,
): Promise<void> {
  const s = await startScenario(opts);
  try {
    await body(s);
  } finally {
    await s.stop();
  }
}

/** The API coordinates of a daemon's ServiceExport in the scenario's namespace. */
export function exportRef(s: Scenario, name: string, version = "v1beta1") {
  return { group: "multicluster.x-k8s.io", version, namespace: s.ns, plural: "serviceexports", name };
}
