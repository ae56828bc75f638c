// The Kubernetes side of the e2e: one real control plane and one real dnsmasq for both clusters,
// served on the topology's host address so that agents inside pod netns reach them; per cluster a
// namespace with its CephCluster, the shipped init Role, and an emulated Lighthouse 0.21 + Globalnet
// controller with the cluster's own clusterID and global slice.
//
//   const mcs = await startMcs({ topology, cleanup, clusters: [{ name: "a", clusterId: "cluster-a" }, …] });
//   const run = await mcs.runInit(pod, { type: "mon", id: "a" }, sharedDir);   // the agent, in the pod's netns
//   mcs.cluster("a").ns / .emulator / .kubeconfig
//   await mcs.exportService("a", "rook-ceph-mgr-x", pod.ip)                     // a global IP without the agent
//   await mcs.serviceClusterIp("a", "rook-ceph-mon-a")
//
// Why one control plane with a namespace per cluster (not two control planes): the agent and the
// emulator are namespace-scoped, clusterset DNS is one zone for all clusters anyway, and one apiserver
// + etcd less matters on a 2-core machine. The two clusters still never share an object.
//
// NAT follows allocation, as Globalnet's does: when a cluster's emulator allocates a global IP for a
// Service (GlobalIngressIP status), the gateway's ingress DNAT maps it to the Service's backend pod
// (declared with setBackend — the Service's selector, which no kube-proxy evaluates here). ClusterIPs
// are mapped the same way once the apiserver has assigned them.
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { startControlPlane, type ControlPlane } from "../../harness/controlplane.ts";
import { startDnsmasq, type Dnsmasq } from "../../harness/dns.ts";
import {
  createCephCluster,
  createPod,
  grantInitRole,
  runAgent,
  lastLog,
  WRAPPER,
  type AgentRun,
} from "../../harness/scenario.ts";
import { startEmulator, type Emulator, type EmulatorEvent } from "../../emulator/mcs-controller.ts";
import { Cleanup, type Timeline } from "./host.ts";
import type { Pod, Topology } from "./topology.ts";

export interface McsClusterOptions {
  /** The topology's cluster name ("a"). */
  name: string;
  /** CephCluster spec.network.multiClusterService.clusterID, also the emulator's. */
  clusterId: string;
  /** spec.network.connections.requireMsgr2 of its CephCluster. */
  requireMsgr2?: boolean;
}

export interface McsOptions {
  topology: Topology;
  cleanup: Cleanup;
  clusters: McsClusterOptions[];
  /** Emulator delays ×; default 0.2 (Lighthouse's ~3 s export becomes ~0.6 s). */
  timeScale?: number;
  timeline?: Timeline;
  /** CEPH_MCS_DEADLINE_SECONDS of every agent run. Default 60. */
  deadlineSeconds?: number;
}

export interface McsCluster {
  readonly name: string;
  readonly clusterId: string;
  readonly ns: string;
  readonly globalCidr: string;
  readonly emulator: Emulator;
  /** Kubeconfig file of the init ServiceAccount (the shipped Role). */
  readonly kubeconfig: string;
}

export interface DaemonRef {
  type: "mon" | "osd";
  id: string;
}

export interface Mcs {
  readonly cp: ControlPlane;
  readonly dns: Dnsmasq;
  cluster(name: string): McsCluster;
  /** Declares `podIp` the backend of Service `service`; NAT (ClusterIP, global IP) follows it. */
  setBackend(cluster: string, service: string, podIp: string): Promise<void>;
  /** `ceph-mcs-agent init` for the daemon, inside the pod's netns; `dir` is its shared folder. */
  runInit(pod: Pod, daemon: DaemonRef, dir: string, env?: Record<string, string>): Promise<AgentRun>;
  /** Service + ServiceExport for a non-agent daemon (mgr); resolves with its global IP once NAT maps it. */
  exportService(cluster: string, name: string, podIp: string, ports?: number[]): Promise<string>;
  serviceClusterIp(cluster: string, service: string): Promise<string>;
  /** Resolves when every NAT change queued so far is in the gateways. */
  natSettled(): Promise<void>;
}

interface State {
  opts: McsOptions;
  cp: ControlPlane;
  dns: Dnsmasq;
  clusters: Map<string, McsCluster>;
  /** "cluster/service" → backend pod IP */
  backends: Map<string, string>;
  nat: Promise<void>;
  natErrors: string[];
}

function enqueue(s: State, what: string, job: () => Promise<void>): void {
  s.nat = s.nat.then(job).catch((err: unknown) => {
    s.natErrors.push(`${what}: ${(err as Error).message}`);
  });
}

function onEmulatorEvent(s: State, cluster: string, e: EmulatorEvent): void {
  if (e.kind !== "giip") return;
  const m = /^allocated (\S+)$/.exec(e.detail);
  const service = e.key.split("/")[1] ?? "";
  const backend = s.backends.get(`${cluster}/${service}`);
  if (!m || !backend) return;
  const ip = m[1]!;
  s.opts.timeline?.mark(`${cluster}: Globalnet allocated ${ip} to ${service} → ingress DNAT to ${backend}`);
  enqueue(s, `map ${ip}`, () => s.opts.topology.mapGlobal(cluster, ip, backend));
}

async function startCluster(s: State, c: McsClusterOptions): Promise<McsCluster> {
  const net = s.opts.topology.clusters.find((x) => x.name === c.name);
  if (!net) throw new Error(`cluster ${c.name} is not in the topology`);
  const ns = await s.cp.newNamespace(`rook-ceph-${c.name}`);
  await createCephCluster(s.cp, ns, {
    mcs: { enabled: true, clusterID: c.clusterId },
    requireMsgr2: c.requireMsgr2 ?? false,
  });
  const kubeconfig = await grantInitRole(s.cp, ns, undefined);
  const dns = s.dns;
  const emulator = await startEmulator({
    kubeConfig: s.cp.admin(),
    profile: "lighthouse-0.21-globalnet",
    namespace: ns,
    clusterId: c.clusterId,
    globalCidr: net.globalCidr,
    timeScale: s.opts.timeScale ?? 0.2,
    onDnsRecord: (name, addrs) => void dns.setRecord(name, addrs).catch(() => undefined),
    onDnsRemove: (name) => void dns.removeRecord(name).catch(() => undefined),
    onEvent: (e) => onEmulatorEvent(s, c.name, e),
  });
  s.opts.cleanup.add(
    `emulator ${c.name}`,
    () => emulator.stop(),
    () => undefined,
  );
  return { name: c.name, clusterId: c.clusterId, ns, globalCidr: net.globalCidr, emulator, kubeconfig };
}

function clusterOf(s: State, name: string): McsCluster {
  const c = s.clusters.get(name);
  if (!c) throw new Error(`no MCS cluster "${name}"`);
  return c;
}

async function serviceClusterIp(s: State, cluster: string, service: string): Promise<string> {
  const core = s.cp.admin().makeApiClient(CoreV1Api);
  const svc = await core.readNamespacedService({ name: service, namespace: clusterOf(s, cluster).ns });
  const ip = svc.spec?.clusterIP;
  if (!ip || ip === "None") throw new Error(`Service ${service} in cluster ${cluster} has no ClusterIP`);
  return ip;
}

async function setBackend(s: State, cluster: string, service: string, podIp: string): Promise<void> {
  s.backends.set(`${cluster}/${service}`, podIp);
  const c = clusterOf(s, cluster);
  const global = c.emulator.globalIp(c.ns, service);
  if (global) enqueue(s, `map ${global}`, () => s.opts.topology.mapGlobal(cluster, global, podIp));
  const clusterIp = await serviceClusterIp(s, cluster, service).catch(() => undefined);
  if (clusterIp)
    enqueue(s, `map ${clusterIp}`, () => s.opts.topology.mapClusterIp(cluster, clusterIp, podIp));
  await natSettled(s);
}

async function natSettled(s: State): Promise<void> {
  await s.nat;
  if (s.natErrors.length > 0)
    throw new Error(`programming the gateways' NAT failed:\n${s.natErrors.join("\n")}`);
}

function agentEnv(s: State, c: McsCluster, pod: { name: string; uid: string; ip: string }, d: DaemonRef) {
  return {
    POD_NAME: pod.name,
    POD_UID: pod.uid,
    POD_NAMESPACE: c.ns,
    POD_IP: pod.ip,
    NODE_NAME: `node-${c.name}`,
    KUBECONFIG: c.kubeconfig,
    CEPH_MCS_DAEMON_TYPE: d.type,
    CEPH_MCS_DAEMON_ID: d.id,
    CEPH_MCS_CEPHCLUSTER: "my-cluster",
    CEPH_MCS_DNS_SERVERS: s.dns.server,
    CEPH_MCS_GLOBAL_CIDRS: c.globalCidr,
    CEPH_MCS_DEADLINE_SECONDS: String(s.opts.deadlineSeconds ?? 60),
    CEPH_MCS_WARN_AFTER_SECONDS: "10",
    CEPH_MCS_WRAPPER: WRAPPER,
  };
}

interface InitRequest {
  pod: Pod;
  d: DaemonRef;
  dir: string;
  env?: Record<string, string>;
}

async function runInit(s: State, { pod, d, dir, env = {} }: InitRequest) {
  const c = clusterOf(s, pod.cluster);
  const service = `rook-ceph-${d.type}-${d.id}`;
  s.backends.set(`${pod.cluster}/${service}`, pod.ip);
  const podObj = await createPod(s.cp, c.ns, d, pod.ip);
  const base = agentEnv(s, c, { ...podObj, ip: pod.ip }, d);
  const full = { ...base, CEPH_MCS_DIR: dir, CEPH_MCS_TERMINATION_LOG: `${dir}/termination-log`, ...env };
  const run = await runAgent(full, dir, ["ip", "netns", "exec", pod.netns]);
  if (run.code !== 0 || !run.publicAddr) return run;
  s.opts.timeline?.mark(
    `${pod.cluster}: agent init ${d.type}.${d.id} in pod ${pod.ip}: ${run.publicAddr} (${run.ms} ms)`,
  );
  await setBackend(s, pod.cluster, service, pod.ip);
  const mapped = (await s.opts.topology.globalMap(pod.cluster))[run.publicAddr];
  if (mapped !== pod.ip) {
    throw new Error(
      `agent wrote ${run.publicAddr} for ${service} but the gateway maps it to ${String(mapped)}`,
    );
  }
  return run;
}

interface ExportRequest {
  cluster: string;
  name: string;
  podIp: string;
  ports?: number[];
}

async function exportService(s: State, { cluster, name, podIp, ports = [6800] }: ExportRequest) {
  const c = clusterOf(s, cluster);
  s.backends.set(`${cluster}/${name}`, podIp);
  const metadata = { name, namespace: c.ns };
  await s.cp
    .admin()
    .makeApiClient(CoreV1Api)
    .createNamespacedService({
      namespace: c.ns,
      body: {
        metadata,
        spec: { selector: { app: name }, ports: ports.map((port) => ({ name: `p${port}`, port })) },
      },
    });
  await s.cp
    .admin()
    .makeApiClient(CustomObjectsApi)
    .createNamespacedCustomObject({
      group: "multicluster.x-k8s.io",
      version: "v1alpha1",
      namespace: c.ns,
      plural: "serviceexports",
      body: { apiVersion: "multicluster.x-k8s.io/v1alpha1", kind: "ServiceExport", metadata },
    });
  const deadline = Date.now() + 30_000;
  while (!c.emulator.globalIp(c.ns, name)) {
    if (Date.now() > deadline)
      throw new Error(`no global IP for Service ${name} in cluster ${cluster} after 30 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await setBackend(s, cluster, name, podIp);
  return c.emulator.globalIp(c.ns, name)!;
}

export async function startMcs(opts: McsOptions): Promise<Mcs> {
  const { topology, cleanup } = opts;
  const cp = await startControlPlane({ bindAddress: topology.hostAddress });
  cleanup.add(
    "control plane",
    () => cp.stop(),
    () => cp.killNow(),
  );
  const dns = await startDnsmasq({ listen: topology.hostAddress, testInterface: true });
  cleanup.add(
    "dnsmasq",
    () => dns.stop(),
    () => undefined,
  );
  const s: State = {
    opts,
    cp,
    dns,
    clusters: new Map(),
    backends: new Map(),
    nat: Promise.resolve(),
    natErrors: [],
  };
  for (const c of opts.clusters) s.clusters.set(c.name, await startCluster(s, c));
  return {
    cp,
    dns,
    cluster: (name) => clusterOf(s, name),
    setBackend: (c, svc, ip) => setBackend(s, c, svc, ip),
    runInit: (pod, d, dir, env) => runInit(s, { pod, d, dir, env }),
    exportService: (cluster, name, podIp, ports) => exportService(s, { cluster, name, podIp, ports }),
    serviceClusterIp: (c, svc) => serviceClusterIp(s, c, svc),
    natSettled: () => natSettled(s),
  };
}

/** Throws with the agent's last log line unless the run wrote an address. */
export function assertInitOk(run: AgentRun, what: string): string {
  if (run.code === 0 && run.publicAddr) return run.publicAddr;
  throw new Error(`agent init for ${what} failed: ${lastLog(run)}\n${run.stderr.slice(-1500)}`);
}
