// `ceph-mcs-agent status`: one table of every mon and OSD — Service, export conditions, pinned global
// IP, what the monmap says, and whether Rook's ConfigMap and mon_host agree — with ✓/⚠/✗ verdicts in
// the manner of `subctl show`. Gathering is I/O; rendering is pure.
import { parseMonEndpoints, splitMonHost } from "../ceph/rook-formats.ts";
import { parseCephCluster, type CephClusterMcs } from "../config.ts";
import { ANNOTATION_GLOBAL_IP } from "../mcs/objects.ts";
import type { ExportCondition } from "../ports.ts";
import type { ControllerKubePort, DaemonExport, DaemonService } from "./kube-port.ts";
import type { LeasePort, StoredLease } from "./leader.ts";
import type { MonmapPort } from "./reconcile.ts";
import { daemonOfService } from "./reconcile.ts";
import { KEY_DATA } from "./upkeep.ts";

export interface StatusSnapshot {
  cluster: CephClusterMcs;
  services: readonly DaemonService[];
  exports: readonly DaemonExport[] | undefined;
  endpointsData: string | undefined;
  monHost: string | undefined;
  lease: StoredLease | undefined;
  /** Undefined: no ceph CLI given, or it failed (`monmapError`). */
  monmap: ReadonlyMap<string, string> | undefined;
  monmapError?: string;
}

export async function gatherStatus(
  ports: { kube: ControllerKubePort; lease: LeasePort; monmap: MonmapPort | undefined },
  namespace: string,
  signal: AbortSignal,
): Promise<StatusSnapshot> {
  const { kube } = ports;
  const cluster = parseCephCluster(await kube.readCephCluster(), { namespace });
  const [services, exports, endpoints, monHost, lease] = await Promise.all([
    kube.listDaemonServices(),
    kube.listDaemonExports(),
    kube.readEndpoints(),
    kube.readMonHost(),
    ports.lease.get(signal).catch(() => undefined),
  ]);
  const snap: StatusSnapshot = {
    cluster,
    services,
    exports,
    endpointsData: endpoints?.value[KEY_DATA],
    monHost: monHost?.value,
    lease,
    monmap: undefined,
  };
  try {
    snap.monmap = await ports.monmap?.monAddresses(signal);
  } catch (err) {
    snap.monmapError = err instanceof Error ? err.message : String(err);
  }
  return snap;
}

type Verdict = "✓" | "⚠" | "✗";

interface Row {
  cells: string[];
  verdict: Verdict;
  why: string[];
}

const HEADER = [
  "DAEMON",
  "SERVICE",
  "CLUSTER-IP",
  "EXPORT",
  "GLOBAL-IP",
  "MONMAP",
  "CONFIGMAP",
  "MON_HOST",
  "",
];

/** Conditions as `Valid,Ready` (true ones) and `Ready=False(Pending)` (others). */
export function conditionSummary(conditions: readonly ExportCondition[]): string {
  const last = new Map<string, ExportCondition>();
  for (const c of conditions) if (c.type) last.set(c.type, c);
  const parts = [...last.values()].map((c) =>
    c.status === "True" ? (c.type ?? "") : `${c.type ?? ""}=${c.status ?? "?"}(${c.reason ?? ""})`,
  );
  return parts.join(",") || "no conditions";
}

function exportProblem(conditions: readonly ExportCondition[]): string | undefined {
  const bad = conditions.find(
    (c) =>
      (c.type === "Valid" && c.status === "False") ||
      (c.type === "Ready" && c.status === "False") ||
      (c.type === "Conflict" && c.status === "True"),
  );
  return (
    bad && `export ${bad.type ?? ""}=${bad.status ?? ""}: ${bad.reason ?? ""} ${bad.message ?? ""}`.trim()
  );
}

interface MonView {
  inMap: string | undefined;
  listed: string | undefined;
  inHost: boolean;
}

function monView(id: string, pinned: string | undefined, s: StatusSnapshot): MonView {
  const hosts = splitMonHost(s.monHost ?? "").join(",");
  return {
    inMap: s.monmap?.get(id),
    listed: parseMonEndpoints(s.endpointsData ?? "").find((m) => m.id === id)?.ip,
    inHost: pinned !== undefined && hosts.includes(`:${pinned}:`),
  };
}

function monProblems(id: string, pinned: string, v: MonView): string[] {
  const why: string[] = [];
  if (v.inMap !== undefined && v.inMap !== pinned)
    why.push(`mon.${id} still advertises ${v.inMap}: needs migration`);
  if (v.listed !== pinned) why.push(`rook-ceph-mon-endpoints lists ${v.listed ?? "nothing"}`);
  if (!v.inHost) why.push("mon_host lacks the global IP (out of quorum, or not written yet)");
  return why;
}

function mapCell(v: MonView, s: StatusSnapshot): string {
  if (s.monmap) return v.inMap ?? "absent";
  return s.monmapError ? "error" : "?";
}

function monCells(
  id: string,
  pinned: string | undefined,
  s: StatusSnapshot,
): { cells: string[]; why: string[] } {
  const v = monView(id, pinned, s);
  if (pinned === undefined) return { cells: [mapCell(v, s), v.listed ?? "-", "-"], why: [] };
  const listed = v.listed === pinned ? "✓" : (v.listed ?? "-");
  return { cells: [mapCell(v, s), listed, v.inHost ? "✓" : "✗"], why: monProblems(id, pinned, v) };
}

function daemonProblems(svc: DaemonService, exp: DaemonExport | undefined, s: StatusSnapshot): string[] {
  const why: string[] = [];
  const problem = exp && exportProblem(exp.conditions);
  if (problem) why.push(problem);
  if (!s.cluster.enabled) return why;
  if (!exp) why.push("no ServiceExport");
  if (svc.annotations[ANNOTATION_GLOBAL_IP] === undefined)
    why.push("no pinned global IP yet (init container or controller)");
  return why;
}

function row(svc: DaemonService, s: StatusSnapshot): Row {
  const daemon = daemonOfService(svc.name) ?? svc.name;
  const pinned = svc.annotations[ANNOTATION_GLOBAL_IP];
  const exp = s.exports?.find((e) => e.name === svc.name);
  const why = daemonProblems(svc, exp, s);
  const mon = daemon.startsWith("mon.")
    ? monCells(daemon.slice(4), pinned, s)
    : { cells: ["-", "-", "-"], why: [] };
  why.push(...mon.why);
  const hard = why.some((w) => w.startsWith("no ") || w.startsWith("export "));
  const verdict: Verdict = why.length === 0 ? "✓" : hard ? "✗" : "⚠";
  const exportCell = exp ? conditionSummary(exp.conditions) : "-";
  return {
    cells: [daemon, svc.name, svc.clusterIP ?? "-", exportCell, pinned ?? "-", ...mon.cells, verdict],
    verdict,
    why,
  };
}

function table(rows: readonly string[][]): string {
  // Verdict marks are single code points: length in code points is the printed width here.
  const width = (c: string): number => Array.from(c).length;
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => width(r[i] ?? ""))));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function leaseLine(lease: StoredLease | undefined): string {
  const holder = lease?.spec.holderIdentity;
  if (!holder) return "Controller: no leader (no controller running, or it released the lease)";
  return `Controller: leader ${holder} (renewed ${lease.spec.renewTime ?? "?"}, ${lease.spec.leaseTransitions ?? 0} transitions)`;
}

/** The report and whether every daemon is ✓. */
export function renderStatus(s: StatusSnapshot): { text: string; healthy: boolean } {
  const c = s.cluster;
  const mcs = c.enabled ? `enabled (clusterID ${c.clusterID ?? "?"})` : "disabled";
  const order = (n: string): string => n.replace(/-(\d+)$/, (_, d: string) => `-${d.padStart(6, "0")}`);
  const rows = [...s.services]
    .sort((a, b) => order(a.name).localeCompare(order(b.name)))
    .map((svc) => row(svc, s));
  const notes = rows.flatMap((r) => r.why.map((w) => `  ${r.verdict} ${r.cells[0] ?? ""}: ${w}`));
  const lines = [
    `CephCluster ${c.namespace}/${c.name}: multiClusterService ${mcs}`,
    leaseLine(s.lease),
    ...(s.monmapError
      ? [`Monmap: not readable: ${s.monmapError}`]
      : s.monmap
        ? []
        : ["Monmap: not checked (set CEPH_MCS_CEPH_COMMAND)"]),
    ...(s.exports === undefined ? ["MCS API: not served by this cluster (no ServiceExport CRD)"] : []),
    "",
    rows.length > 0 ? table([HEADER, ...rows.map((r) => r.cells)]) : "no mon or OSD Services found",
    ...(notes.length > 0 ? ["", ...notes] : []),
    "",
  ];
  return { text: lines.join("\n"), healthy: rows.every((r) => r.verdict === "✓") };
}
