// Pure: which Services and ServiceExports belong to daemons that are gone, and may be deleted now.
// Deleting an export can change a global IP, so only objects of daemons that surely no longer exist,
// and only objects made for MCS by the agent or by Rook, after a grace period; never anything else.
import type { DaemonExport, DaemonService } from "./kube-port.ts";

export interface CleanupInput {
  services: readonly DaemonService[];
  exports: readonly DaemonExport[];
  /** Names of the mon/OSD Deployments (`rook-ceph-mon-a`, `rook-ceph-osd-3`). */
  deployments: readonly string[];
  /** Mon ids in Rook's ConfigMap `data`. */
  monIds: readonly string[];
  /** When each orphan was first seen (kept by the caller between rounds). */
  firstSeen: Map<string, number>;
  now: number;
  graceMs: number;
}

export interface Deletion {
  kind: "Service" | "ServiceExport";
  name: string;
  uid: string;
}

export interface CleanupPlan {
  delete: Deletion[];
  /** Orphans still within the grace period. */
  waiting: { kind: Deletion["kind"]; name: string; remainingMs: number }[];
  /** Orphans that are not ours to delete. */
  foreign: { kind: Deletion["kind"]; name: string }[];
  /** Set when nothing may be judged this round, and why. */
  skipped?: string;
}

function daemonExists(name: string, input: CleanupInput, deployments: ReadonlySet<string>): boolean {
  if (deployments.has(name)) return true;
  const mon = /^rook-ceph-mon-([a-z]+)$/.exec(name);
  return mon !== null && input.monIds.includes(mon[1] ?? "");
}

export function planCleanup(input: CleanupInput): CleanupPlan {
  const plan: CleanupPlan = { delete: [], waiting: [], foreign: [] };
  // No daemon at all looks like an uninstall, a restore or a permission problem: judge nothing.
  if (input.deployments.length === 0 && input.monIds.length === 0) {
    input.firstSeen.clear();
    return { ...plan, skipped: "no mon or OSD Deployment and no mon in rook-ceph-mon-endpoints" };
  }
  const deployments = new Set(input.deployments);
  const candidates = [
    ...input.exports.map((e) => ({
      kind: "ServiceExport" as const,
      o: e,
      ours: e.createdByAgent || e.ownedByCephCluster,
    })),
    ...input.services.map((s) => ({ kind: "Service" as const, o: s, ours: s.createdByAgent })),
  ];
  const orphanKeys = new Set<string>();
  for (const { kind, o, ours } of candidates) {
    if (daemonExists(o.name, input, deployments)) continue;
    if (!ours) {
      plan.foreign.push({ kind, name: o.name });
      continue;
    }
    const key = `${kind}/${o.name}/${o.uid}`;
    orphanKeys.add(key);
    const since = input.firstSeen.get(key) ?? input.now;
    input.firstSeen.set(key, since);
    const remainingMs = since + input.graceMs - input.now;
    if (remainingMs <= 0) plan.delete.push({ kind, name: o.name, uid: o.uid });
    else plan.waiting.push({ kind, name: o.name, remainingMs });
  }
  // A daemon that came back (or an object that went) is no longer an orphan.
  for (const key of input.firstSeen.keys()) if (!orphanKeys.has(key)) input.firstSeen.delete(key);
  return plan;
}
