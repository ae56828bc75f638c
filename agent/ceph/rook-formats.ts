// Rook's formats for mon addresses outside Ceph (research/rook-mcs.md §6.3–6.4), read and written so
// that Rook reads back exactly what it would have written itself. Rook builds these from a Go map, so
// their order is random: compare as sets, keep the stored order when rewriting.
import { isIPv6 } from "node:net";
import { MON_MSGR1_PORT, MON_MSGR2_PORT } from "../mcs/objects.ts";

/** One entry of the ConfigMap `rook-ceph-mon-endpoints` key `data`: `<id>=<ip>:<port>`. */
export interface MonEndpoint {
  readonly id: string;
  readonly ip: string;
  /** 6789 (msgr1 + msgr2 on 3300) or 3300 (msgr2 only). */
  readonly port: number;
}

/** Go's net.JoinHostPort: brackets around IPv6 addresses. */
export function joinHostPort(ip: string, port: number): string {
  return isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function splitHostPort(text: string): { ip: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  return port > 0 && port < 65536 ? { ip: m[1] ?? m[2] ?? "", port } : undefined;
}

/** Parses `a=10.0.0.1:6789,b=[fd00::1]:3300`; throws on anything Rook would not have written. */
export function parseMonEndpoints(data: string): MonEndpoint[] {
  if (data.trim() === "") return [];
  return data.split(",").map((entry) => {
    const eq = entry.indexOf("=");
    const hostPort = eq > 0 ? splitHostPort(entry.slice(eq + 1)) : undefined;
    if (!hostPort) throw new Error(`mon endpoint ${JSON.stringify(entry)} is not <id>=<ip>:<port>`);
    return { id: entry.slice(0, eq), ...hostPort };
  });
}

export function formatMonEndpoints(mons: readonly MonEndpoint[]): string {
  return mons.map((m) => `${m.id}=${joinHostPort(m.ip, m.port)}`).join(",");
}

/** One mon in `mon_host`: `[v2:<ip>:3300,v1:<ip>:<port>]`, or `[v2:<ip>:3300]` for a msgr2-only mon. */
export function monHostEntry(ip: string, port: number): string {
  const v2 = `v2:${joinHostPort(ip, MON_MSGR2_PORT)}`;
  return port === MON_MSGR2_PORT ? `[${v2}]` : `[${v2},v1:${joinHostPort(ip, port)}]`;
}

/** Secret `rook-ceph-config` key `mon_host`: in-quorum mons only, comma-joined. */
export function formatMonHost(mons: readonly MonEndpoint[], outOfQuorum: ReadonlySet<string>): string {
  return mons
    .filter((m) => !outOfQuorum.has(m.id))
    .map((m) => monHostEntry(m.ip, m.port))
    .join(",");
}

/** The bracketed addrvecs of a `mon_host` value, e.g. `[v2:1.2.3.4:3300,v1:1.2.3.4:6789]`. */
export function splitMonHost(monHost: string): string[] {
  // An IPv6 addrvec nests brackets: `[v2:[fd00::1]:3300,v1:[fd00::1]:6789]`.
  return monHost.match(/\[(?:[^[\]]|\[[^[\]]*\])*\]|[^,[\]]+/g)?.map((s) => s.trim()) ?? [];
}

/** `outOfQuorum` is a comma-joined id list. */
export function parseIdList(text: string | undefined): Set<string> {
  return new Set((text ?? "").split(",").filter((s) => s !== ""));
}

export function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  return sa.size === new Set(b).size && b.every((x) => sa.has(x));
}

/** A CSI monitor: Rook writes the mon's endpoint as is (`ip:6789` or `ip:3300`). */
export function csiMonitor(m: MonEndpoint): string {
  return joinHostPort(m.ip, m.port);
}

interface CsiEntry {
  clusterID?: unknown;
  namespace?: unknown;
  monitors?: unknown;
}

/**
 * Sets `monitors` of every entry of `csi-cluster-config-json` that belongs to the cluster (clusterID or
 * namespace = the cluster's namespace, as Rook's updateCsiClusterConfig does), keeping every other
 * field and the key order. Undefined when nothing changes (compared as sets).
 */
export function updateCsiMonitors(
  json: string,
  clusterKey: string,
  monitors: readonly string[],
): string | undefined {
  const entries = JSON.parse(json) as unknown;
  if (!Array.isArray(entries)) throw new Error("csi-cluster-config-json is not a JSON array");
  let changed = false;
  for (const entry of entries as CsiEntry[]) {
    if (entry.clusterID !== clusterKey && entry.namespace !== clusterKey) continue;
    const current = Array.isArray(entry.monitors) ? (entry.monitors as string[]) : [];
    if (sameSet(current, monitors)) continue;
    entry.monitors = [...monitors];
    changed = true;
  }
  return changed ? goJson(entries) : undefined;
}

/** JSON as Go's encoding/json writes it: no spaces, and <, >, &, U+2028/9 escaped. */
export function goJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

export { MON_MSGR1_PORT, MON_MSGR2_PORT };
