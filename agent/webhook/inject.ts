// Pure: what the admission webhook adds to a Rook mon/OSD pod, as a minimal RFC 6902 JSON patch.
// "Ensure" semantics: every part of the pod contract (DESIGN.md) that is already in place is left
// alone, so a second pass over an injected pod yields no operation at all.
import type { V1Container, V1EnvVar, V1Pod, V1Volume } from "@kubernetes/client-node";
import type { DaemonType } from "../ports.ts";

export const STATUS_ANNOTATION = "ceph-mcs-agent.io/status";
/** Namespace label (`enabled`/`disabled`) and pod label (`disabled`) of the opt-in/opt-out. */
export const INJECT_LABEL = "ceph-mcs-agent.io/inject";
export const MCS_DIR = "/run/ceph-mcs";
export const VOLUME_NAME = "ceph-mcs";
export const INIT_CONTAINER_NAME = "ceph-mcs-init";
export const WRAPPER_PATH = `${MCS_DIR}/ceph-mcs-exec`;

const APPS: Readonly<Record<string, DaemonType>> = { "rook-ceph-mon": "mon", "rook-ceph-osd": "osd" };

export interface InjectSettings {
  /** The agent image of the init container. */
  readonly image: string;
  readonly pullPolicy: "Always" | "IfNotPresent" | "Never";
  /** Recorded in the status annotation. */
  readonly version: string;
  /** Namespace opted in by label: tell the init container MCS is on even if the CephCluster's switch is off. */
  readonly forceEnabled: boolean;
}

export type PatchOp =
  | { op: "add"; path: string; value: unknown }
  | { op: "replace"; path: string; value: unknown }
  | { op: "move"; from: string; path: string };

export type SkipReason =
  "not-a-daemon" | "canary" | "opted-out" | "host-network" | "no-daemon-container" | "cluster-disabled";

export type Plan =
  | { kind: "patch"; daemon: DaemonType; ops: PatchOp[]; wrapped: string[] }
  | { kind: "skip"; reason: SkipReason; message: string };

/** Where a daemon binary sits in a container's command, e.g. `ceph-mon`, or `bash -c … -- /rook/rook`. */
interface Target {
  readonly list: "initContainers" | "containers";
  readonly index: number;
  readonly container: V1Container;
  /** Index of the daemon binary in `command`. */
  readonly at: number;
  readonly binary: string;
}

const basename = (p: string): string => p.slice(p.lastIndexOf("/") + 1);

/** `~` and `/` escaped as RFC 6901 wants. */
export function pointer(...parts: (string | number)[]): string {
  return parts.map((p) => `/${String(p).replaceAll("~", "~0").replaceAll("/", "~1")}`).join("");
}

/** Index of the daemon binary in the command, or -1. `rook` counts only as `rook ceph osd start`. */
export function daemonIndex(c: V1Container, type: DaemonType): number {
  const command = c.command ?? [];
  const argv = [...command, ...(c.args ?? [])];
  return command.findIndex((word, i) => {
    const bin = basename(word);
    if (type === "mon") return bin === "ceph-mon";
    if (bin === "ceph-osd") return true;
    return bin === "rook" && argv.slice(i + 1, i + 4).join(" ") === "ceph osd start";
  });
}

function targets(pod: V1Pod, type: DaemonType): Target[] {
  const lists = ["initContainers", "containers"] as const;
  return lists.flatMap((list) =>
    (pod.spec?.[list] ?? []).flatMap((container, index) => {
      const at = daemonIndex(container, type);
      return at < 0 ? [] : [{ list, index, container, at, binary: basename(container.command?.[at] ?? "") }];
    }),
  );
}

function isWrapped(t: Target): boolean {
  return t.at > 0 && basename(t.container.command?.[t.at - 1] ?? "") === "ceph-mcs-exec";
}

/** Appends to an array field, creating it when absent. */
function append(
  base: string,
  field: string,
  current: readonly unknown[] | undefined,
  value: unknown,
): PatchOp {
  return current === undefined
    ? { op: "add", path: `${base}/${field}`, value: [value] }
    : { op: "add", path: `${base}/${field}/-`, value };
}

const fieldEnv = (name: string, fieldPath: string): V1EnvVar => ({
  name,
  valueFrom: { fieldRef: { fieldPath } },
});

function hasEnv(c: V1Container, ...names: string[]): boolean {
  return (c.env ?? []).some((e) => names.includes(e.name));
}

/** The ops that make one daemon container start through the wrapper. */
function wrapOps(t: Target, daemon: DaemonType): PatchOp[] {
  const base = pointer("spec", t.list, t.index);
  const ops: PatchOp[] = [];
  if (!isWrapped(t)) ops.push({ op: "add", path: `${base}/command/${t.at}`, value: WRAPPER_PATH });
  const mounts = t.container.volumeMounts;
  if (!(mounts ?? []).some((m) => m.name === VOLUME_NAME))
    ops.push(append(base, "volumeMounts", mounts, { name: VOLUME_NAME, mountPath: MCS_DIR, readOnly: true }));
  // The wrapper binds POD_IP; Rook gives the daemon containers ROOK_POD_IP but not init-mon-fs.
  const env: V1EnvVar[] = [];
  if (!hasEnv(t.container, "POD_IP", "ROOK_POD_IP")) env.push(fieldEnv("POD_IP", "status.podIP"));
  // The wrapper tells mon from osd by the binary; `rook ceph osd start` needs saying.
  if (t.binary === "rook" && !hasEnv(t.container, "CEPH_MCS_DAEMON_TYPE"))
    env.push({ name: "CEPH_MCS_DAEMON_TYPE", value: daemon });
  let current = t.container.env;
  for (const e of env) {
    ops.push(append(base, "env", current, e));
    current = [...(current ?? []), e];
  }
  return ops;
}

/** The injected init container: the agent's init mode, configured by the Downward API only. */
export function initContainer(settings: InjectSettings): V1Container {
  const env: V1EnvVar[] = [
    fieldEnv("POD_NAME", "metadata.name"),
    fieldEnv("POD_NAMESPACE", "metadata.namespace"),
    fieldEnv("POD_UID", "metadata.uid"),
    fieldEnv("POD_IP", "status.podIP"),
    fieldEnv("NODE_NAME", "spec.nodeName"),
    // Rook's labels name the daemon; read here, the agent needs no `get pods`.
    fieldEnv("CEPH_MCS_DAEMON_TYPE", "metadata.labels['ceph_daemon_type']"),
    fieldEnv("CEPH_MCS_DAEMON_ID", "metadata.labels['ceph_daemon_id']"),
    { name: "CEPH_MCS_DIR", value: MCS_DIR },
  ];
  if (settings.forceEnabled) env.push({ name: "CEPH_MCS_ENABLED", value: "true" });
  return {
    name: INIT_CONTAINER_NAME,
    image: settings.image,
    imagePullPolicy: settings.pullPolicy,
    args: ["init"],
    env,
    volumeMounts: [{ name: VOLUME_NAME, mountPath: MCS_DIR }],
    resources: { requests: { cpu: "10m", memory: "64Mi" }, limits: { memory: "256Mi" } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
  };
}

/** A small in-memory volume: the wrapper, an IP and result.json (Strimzi's kafka-init does the same). */
export const VOLUME: V1Volume = { name: VOLUME_NAME, emptyDir: { medium: "Memory", sizeLimit: "1Mi" } };

/** Puts the init container first (before Rook's init-mon-fs), adding or moving it. */
function initOps(pod: V1Pod, settings: InjectSettings, ts: readonly Target[]): PatchOp[] {
  const inits = pod.spec?.initContainers;
  const mine = (inits ?? []).findIndex((c) => c.name === INIT_CONTAINER_NAME);
  if (mine < 0) {
    return inits === undefined || inits.length === 0
      ? [{ op: "add", path: "/spec/initContainers", value: [initContainer(settings)] }]
      : [{ op: "add", path: "/spec/initContainers/0", value: initContainer(settings) }];
  }
  const firstWrapped = Math.min(...ts.filter((t) => t.list === "initContainers").map((t) => t.index));
  return mine < firstWrapped
    ? []
    : [{ op: "move", from: `/spec/initContainers/${mine}`, path: "/spec/initContainers/0" }];
}

function statusValue(settings: InjectSettings, ts: readonly Target[]): string {
  return JSON.stringify({
    version: settings.version,
    initContainer: INIT_CONTAINER_NAME,
    volume: VOLUME_NAME,
    wrapped: ts.map((t) => t.container.name),
  });
}

function statusOps(pod: V1Pod, value: string, changed: boolean): PatchOp[] {
  const annotations = pod.metadata?.annotations;
  if (annotations === undefined)
    return [{ op: "add", path: "/metadata/annotations", value: { [STATUS_ANNOTATION]: value } }];
  const path = pointer("metadata", "annotations", STATUS_ANNOTATION);
  if (!(STATUS_ANNOTATION in annotations)) return [{ op: "add", path, value }];
  return changed && annotations[STATUS_ANNOTATION] !== value ? [{ op: "replace", path, value }] : [];
}

/** Why a pod is not a candidate at all, before its containers are looked at. */
export function skipReason(pod: V1Pod): { reason: SkipReason; message: string } | undefined {
  const labels = pod.metadata?.labels ?? {};
  const app = labels.app ?? "";
  if (APPS[app] === undefined)
    return { reason: "not-a-daemon", message: `label app=${app} is not a Rook mon or OSD` };
  if (labels.mon_canary === "true")
    return { reason: "canary", message: "Rook's mon canary pod runs no daemon: left alone" };
  if (labels[INJECT_LABEL] === "disabled")
    return { reason: "opted-out", message: `the pod is labelled ${INJECT_LABEL}=disabled` };
  if (pod.spec?.hostNetwork === true)
    return {
      reason: "host-network",
      message:
        "ceph-mcs-agent: host-network pod left uninjected: the daemon advertises its node's IP, which no ServiceExport can replace",
    };
  return undefined;
}

function noDaemonContainer(daemon: DaemonType): Plan {
  const binary = daemon === "mon" ? "ceph-mon" : "ceph-osd or rook ceph osd start";
  return {
    kind: "skip",
    reason: "no-daemon-container",
    message: `ceph-mcs-agent: no container of this ${daemon} pod runs ${binary} as its command, so its address cannot be set: check that Rook's pod template is unchanged`,
  };
}

function volumeOps(pod: V1Pod): PatchOp[] {
  const volumes = pod.spec?.volumes;
  return (volumes ?? []).some((v) => v.name === VOLUME_NAME)
    ? []
    : [append("/spec", "volumes", volumes, VOLUME)];
}

/** The whole decision for one pod: skip (with why) or the JSON patch (possibly empty: already injected). */
export function planInjection(pod: V1Pod, settings: InjectSettings): Plan {
  const skip = skipReason(pod);
  if (skip) return { kind: "skip", ...skip };
  const daemon = APPS[pod.metadata?.labels?.app ?? ""] ?? "mon";
  const ts = targets(pod, daemon);
  if (!ts.some((t) => t.list === "containers")) return noDaemonContainer(daemon);
  // Container ops first: they use today's indices, which the init container's insertion shifts.
  const ops = [...ts.flatMap((t) => wrapOps(t, daemon)), ...volumeOps(pod), ...initOps(pod, settings, ts)];
  ops.push(...statusOps(pod, statusValue(settings, ts), ops.length > 0));
  return { kind: "patch", daemon, ops, wrapped: ts.map((t) => `${t.list}/${t.container.name}`) };
}

/** Applies a patch produced by planInjection (for tests and the offline view; the apiserver applies it for real). */
export function applyPatch<T>(doc: T, ops: readonly PatchOp[]): T {
  const root = structuredClone(doc) as unknown;
  for (const op of ops) {
    if (op.op === "move") {
      const value = removeAt(root, op.from);
      insertAt(root, op.path, value, false);
    } else insertAt(root, op.path, op.value, op.op === "replace");
  }
  return root as T;
}

function split(path: string): { parent: string[]; key: string } {
  const parts = path
    .split("/")
    .slice(1)
    .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"));
  const key = parts.pop();
  if (key === undefined) throw new Error(`JSON pointer ${JSON.stringify(path)} has no key`);
  return { parent: parts, key };
}

function resolve(root: unknown, parts: readonly string[], path: string): Record<string, unknown> | unknown[] {
  let node = root;
  for (const p of parts) node = (node as Record<string, unknown>)[p];
  if (typeof node !== "object" || node === null) throw new Error(`JSON patch path ${path} has no parent`);
  return node as Record<string, unknown> | unknown[];
}

function insertAt(root: unknown, path: string, value: unknown, replace: boolean): void {
  const { parent, key } = split(path);
  const node = resolve(root, parent, path);
  if (!Array.isArray(node)) {
    node[key] = value;
    return;
  }
  const index = key === "-" ? node.length : Number(key);
  node.splice(index, replace ? 1 : 0, value);
}

function removeAt(root: unknown, path: string): unknown {
  const { parent, key } = split(path);
  const node = resolve(root, parent, path);
  if (!Array.isArray(node)) throw new Error(`JSON patch move from ${path}: only array items are moved`);
  return node.splice(Number(key), 1)[0];
}
