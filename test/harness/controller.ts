// Controller-mode test kit: a Rook-shaped cluster seeded the way Rook's operator writes it (field
// manager "rook", the ConfigMap/Secret keys and owners of research/rook-mcs.md §6.3–6.4), the shipped
// controller Role, a stand-in `ceph` CLI whose monmap the test sets, and controller processes.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import {
  AppsV1Api,
  CoreV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1OwnerReference,
  type V1Role,
} from "@kubernetes/client-node";
import type { ControlPlane } from "./controlplane.ts";
import { grantShippedRole, shippedRole, type RuleFilter } from "./rbac.ts";
import { CLI, createCephCluster, NODE } from "./scenario.ts";

export const CONTROLLER_SA = "ceph-mcs-agent-controller";
export const CLUSTER = "my-cluster";

export function controllerRole(filter?: RuleFilter): Promise<V1Role> {
  return shippedRole("controller-role.yaml", filter);
}

/** The shipped Role (optionally without some rules) bound to the controller's ServiceAccount. */
export function grantControllerRole(cp: ControlPlane, ns: string, filter?: RuleFilter): Promise<string> {
  return grantShippedRole(cp, ns, { file: "controller-role.yaml", sa: CONTROLLER_SA, filter });
}

export interface SeedOptions {
  mons: readonly string[];
  /** 3300 for msgr2-only mons. */
  port?: number;
  outOfQuorum?: readonly string[];
  mcs?: { enabled: boolean; clusterID?: string };
  osds?: readonly string[];
}

export interface Seeded {
  uid: string;
  clusterIPs: Record<string, string>;
}

const ROOK = { fieldManager: "rook" };

/** Creates what Rook's operator would have: CephCluster, mon Services + Deployments, ConfigMap, Secret. */
export async function seedRookCluster(cp: ControlPlane, ns: string, o: SeedOptions): Promise<Seeded> {
  const mcs = o.mcs ?? { enabled: true, clusterID: "cluster-a" };
  const uid = await createCephCluster(cp, ns, { mcs, requireMsgr2: o.port === 3300 });
  const clusterIPs: Record<string, string> = {};
  for (const id of o.mons) clusterIPs[id] = await createRookDaemon(cp, ns, uid, { type: "mon", id });
  for (const id of o.osds ?? []) await createRookDaemon(cp, ns, uid, { type: "osd", id });
  await writeRookConfig(cp, ns, { uid, clusterIPs, port: o.port ?? 6789, outOfQuorum: o.outOfQuorum ?? [] });
  return { uid, clusterIPs };
}

export function ownerRef(uid: string): V1OwnerReference {
  return {
    apiVersion: "ceph.rook.io/v1",
    kind: "CephCluster",
    name: CLUSTER,
    uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** A mon/OSD Service and Deployment as Rook makes them; returns the Service's ClusterIP. */
export async function createRookDaemon(
  cp: ControlPlane,
  ns: string,
  uid: string,
  d: { type: "mon" | "osd"; id: string },
): Promise<string> {
  const kc = cp.admin();
  const name = `rook-ceph-${d.type}-${d.id}`;
  // Rook's selectors (mon/service.go, osd/spec.go) and daemon labels.
  const selector: Record<string, string> =
    d.type === "mon"
      ? { app: "rook-ceph-mon", rook_cluster: ns, ceph_daemon_id: d.id, mon: d.id, mon_cluster: ns }
      : { app: "rook-ceph-osd", "ceph-osd-id": d.id };
  const labels = { ...selector, ceph_daemon_type: d.type, ceph_daemon_id: d.id, rook_cluster: ns };
  const ports =
    d.type === "mon"
      ? [
          { name: "tcp-msgr1", port: 6789, targetPort: 6789, protocol: "TCP" },
          { name: "tcp-msgr2", port: 3300, targetPort: 3300, protocol: "TCP" },
        ]
      : [{ name: "osd-port-v2", port: 6800, targetPort: 6800, protocol: "TCP" }];
  const svc = await kc.makeApiClient(CoreV1Api).createNamespacedService({
    namespace: ns,
    ...ROOK,
    body: { metadata: { name, labels, ownerReferences: [ownerRef(uid)] }, spec: { selector, ports } },
  });
  await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace: ns,
    ...ROOK,
    body: {
      metadata: { name, labels, ownerReferences: [ownerRef(uid)] },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: { containers: [{ name: d.type, image: "quay.io/ceph/ceph:v18" }] },
        },
      },
    },
  });
  return svc.spec?.clusterIP ?? "";
}

/** Rook's ConfigMap and Secret for these mons (fresh objects, as persistExpectedMonDaemonsInConfigMap). */
export async function writeRookConfig(
  cp: ControlPlane,
  ns: string,
  c: { uid: string; clusterIPs: Record<string, string>; port: number; outOfQuorum: readonly string[] },
): Promise<void> {
  const core = cp.admin().makeApiClient(CoreV1Api);
  const ids = Object.keys(c.clusterIPs);
  const endpoint = (id: string): string => `${c.clusterIPs[id] ?? ""}:${c.port}`;
  const monHost = ids
    .filter((id) => !c.outOfQuorum.includes(id))
    .map((id) => {
      const ip = c.clusterIPs[id] ?? "";
      return c.port === 3300 ? `[v2:${ip}:3300]` : `[v2:${ip}:3300,v1:${ip}:6789]`;
    })
    .join(",");
  const mapping = {
    node: Object.fromEntries(
      ids.map((id) => [id, { Name: "node-1", Hostname: "node-1", Address: "192.168.1.10" }]),
    ),
  };
  await core.createNamespacedConfigMap({
    namespace: ns,
    ...ROOK,
    body: {
      metadata: {
        name: "rook-ceph-mon-endpoints",
        finalizers: ["ceph.rook.io/disaster-protection"],
        ownerReferences: [ownerRef(c.uid)],
      },
      data: {
        data: ids.map((id) => `${id}=${endpoint(id)}`).join(","),
        maxMonId: String(ids.length - 1),
        mapping: JSON.stringify(mapping),
        outOfQuorum: c.outOfQuorum.join(","),
        externalMons: "",
        "csi-cluster-config-json": JSON.stringify([
          {
            clusterID: ns,
            monitors: ids.map(endpoint),
            cephFS: { netNamespaceFilePath: "", subvolumeGroup: "" },
            namespace: ns,
          },
        ]),
      },
    },
  });
  await core.createNamespacedSecret({
    namespace: ns,
    ...ROOK,
    body: {
      metadata: { name: "rook-ceph-config", ownerReferences: [ownerRef(c.uid)] },
      type: "kubernetes.io/rook",
      stringData: { mon_host: monHost, mon_initial_members: ids.join(",") },
    },
  });
}

/** What init mode writes when it pins a daemon's global IP. */
export async function pin(cp: ControlPlane, ns: string, service: string, ip: string): Promise<void> {
  const core = cp.admin().makeApiClient(CoreV1Api);
  const annotations = {
    "ceph-mcs-agent.io/global-ip": ip,
    "ceph-mcs-agent.io/pinned-at": new Date().toISOString(),
  };
  await core.patchNamespacedService(
    { namespace: ns, name: service, body: { metadata: { annotations } } },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
}

export async function readEndpoints(cp: ControlPlane, ns: string) {
  return cp
    .admin()
    .makeApiClient(CoreV1Api)
    .readNamespacedConfigMap({ namespace: ns, name: "rook-ceph-mon-endpoints" });
}

export async function readMonHost(cp: ControlPlane, ns: string): Promise<string> {
  const s = await cp
    .admin()
    .makeApiClient(CoreV1Api)
    .readNamespacedSecret({ namespace: ns, name: "rook-ceph-config" });
  return Buffer.from(s.data?.mon_host ?? "", "base64").toString("utf8");
}

/** A stand-in `ceph` CLI answering `mon dump` with a monmap the test sets (reef's JSON shape). */
export interface FakeCeph {
  command: string;
  setMonmap(mons: Record<string, string>): Promise<void>;
  remove(): Promise<void>;
}

export async function fakeCeph(): Promise<FakeCeph> {
  const dir = await mkdtemp(join(tmpdir(), "ceph-mcs-fakeceph-"));
  const script = join(dir, "ceph");
  await writeFile(
    script,
    '#!/bin/sh\n# test stand-in: only `mon dump` is answered (after the --mon-host the controller adds)\n[ "$1" = --mon-host ] && shift 2\ncase "$1 $2" in "mon dump") exec cat "$(dirname "$0")/monmap.json";; esac\necho "fake ceph: unsupported: $*" >&2; exit 22\n',
    { mode: 0o755 },
  );
  let epoch = 0;
  const fake: FakeCeph = {
    command: script,
    setMonmap: async (mons) => {
      epoch++;
      const entries = Object.entries(mons).map(([name, ip], rank) => ({
        rank,
        name,
        public_addrs: {
          addrvec: [
            { type: "v2", addr: `${ip}:3300`, nonce: 0 },
            { type: "v1", addr: `${ip}:6789`, nonce: 0 },
          ],
        },
        addr: `${ip}:6789/0`,
        public_addr: `${ip}:6789/0`,
      }));
      const map = { epoch, fsid: "cc01a46e-2fa1-4587-931f-04511c11649c", mons: entries };
      await writeFile(join(dir, "monmap.json.tmp"), JSON.stringify(map));
      await rename(join(dir, "monmap.json.tmp"), join(dir, "monmap.json"));
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
  return fake;
}

export interface ControllerProcess {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly logs: Record<string, unknown>[];
  /** Resolves with the first log line (already seen or future) that matches. */
  waitForLog(
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

export const FAST_LEASE = {
  CEPH_MCS_LEASE_DURATION: "2",
  CEPH_MCS_RENEW_DEADLINE: "1.5",
  CEPH_MCS_RETRY_PERIOD: "0.25",
};

/** `script`: the agent's entry point (the unbundled CLI, or dist/ceph-mcs-agent.mjs). */
export function startController(name: string, env: Record<string, string>, script = CLI): ControllerProcess {
  const proc = spawn(NODE, [script, "controller"], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      POD_NAME: name,
      CEPH_MCS_LISTEN: "127.0.0.1:0",
      ...FAST_LEASE,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: {
    match: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  createInterface({ input: proc.stdout }).on("line", (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { msg: text };
    }
    logs.push(line);
    for (const w of [...waiters]) {
      if (!w.match(line)) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(line);
    }
  });
  let stderr = "";
  proc.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
  return {
    name,
    proc,
    logs,
    exited,
    kill: (sig) => proc.kill(sig),
    waitForLog: (match, timeoutMs = 30_000) => {
      const seen = logs.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () =>
            reject(
              new Error(
                `${name}: no matching log line within ${timeoutMs} ms; stderr: ${stderr.slice(-500)}; last: ${JSON.stringify(logs.slice(-5))}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          match,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
      });
    },
  };
}

/** Polls `read` until `ok` holds (the apiserver is the source of truth; no timing asserted). */
export async function eventually<T>(
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > until)
      throw new Error(`condition not reached within ${timeoutMs} ms; last value: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
