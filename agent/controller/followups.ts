// Work a round finds but must not wait for: exporting running mons (minutes) and migrating mons to
// their global IPs (a minute or more). Both run in the background under the leader's signal, one at a
// time per mon / per cluster; a stopped migration is never retried on its own ("any doubt: stop").
import type { Logger } from "pino";
import { parseMonEndpoints } from "../ceph/rook-formats.ts";
import type { CephPort } from "../ceph/monmap.ts";
import type { Env } from "../config.ts";
import type { InitKubePort } from "../init/kube-port.ts";
import { MON_MSGR2_PORT } from "../mcs/objects.ts";
import type { Clock } from "../ports.ts";
import { exportMon } from "./exporter.ts";
import type { ControllerKubePort } from "./kube-port.ts";
import type { Term } from "./leader.ts";
import { migrateMons, type AddressMove, type MonTarget, type PublishPhase } from "./migrate.ts";
import type { Reconciler, RoundReport } from "./reconcile.ts";

export interface FollowUpDeps {
  initKube: (signal: AbortSignal) => InitKubePort;
  kube: ControllerKubePort;
  ceph: CephPort | undefined;
  reconciler: Reconciler;
  clock: Clock;
  log: Logger;
  env: Env;
}

export function followUps(
  d: FollowUpDeps,
): (report: RoundReport, term: Term, signal: AbortSignal) => Promise<void> {
  const exporting = new Set<string>();
  // Pinned by an export that ended after the round now being followed up began: its report still
  // lists the mon as unexported. Kept until a round sees the pin, so the export is not run twice.
  const exported = new Set<string>();
  const migration = { running: false, stopped: undefined as string | undefined };
  return (report, term, signal) => {
    if (!report.enabled) return Promise.resolve();
    for (const id of exported) if (!report.unexported.includes(id)) exported.delete(id);
    for (const id of report.unexported) startExport(d, { id, report, exporting, exported }, signal);
    const targets = migrationTargets(report);
    if (targets && d.ceph && !migration.running && migration.stopped === undefined) {
      migration.running = true;
      void runMigration(d, { targets, term, ceph: d.ceph, migration }, signal).finally(() => {
        migration.running = false;
      });
    }
    return Promise.resolve();
  };
}

function startExport(
  d: FollowUpDeps,
  x: { id: string; report: RoundReport; exporting: Set<string>; exported: Set<string> },
  signal: AbortSignal,
): void {
  if (x.exporting.has(x.id) || x.exported.has(x.id) || signal.aborted) return;
  x.exporting.add(x.id);
  exportMon(
    x.id,
    x.report.cluster,
    { kube: d.initKube(signal), clock: d.clock, log: d.log, env: d.env },
    signal,
  )
    .then(() => x.exported.add(x.id))
    .catch((err: unknown) => {
      if (!signal.aborted)
        d.log.error({ err, mon: x.id }, `could not export mon.${x.id}; retrying at the next round`);
    })
    .finally(() => x.exporting.delete(x.id));
}

/** Every mon pinned and at least one still advertising another address: the whole set, as migrate wants. */
export function migrationTargets(report: RoundReport): MonTarget[] | undefined {
  const plan = report.upkeep;
  if (!plan || report.unexported.length > 0) return undefined;
  if (!plan.heldBack.some((h) => h.reason === "needs-migration")) return undefined;
  const pins = new Map(report.addresses.map((a) => [a.daemon, a.pinned]));
  const mons = parseMonEndpoints(report.endpointsData ?? "");
  const targets = mons.map((m) => ({
    id: m.id,
    to: pins.get(`mon.${m.id}`) ?? "",
    msgr2Only: m.port === MON_MSGR2_PORT,
  }));
  return targets.every((t) => t.to !== "") ? targets : undefined;
}

interface MigrationRun {
  targets: MonTarget[];
  term: Term;
  ceph: CephPort;
  migration: { stopped: string | undefined };
}

async function runMigration(d: FollowUpDeps, r: MigrationRun, signal: AbortSignal): Promise<void> {
  const ns = d.reconciler.namespace;
  const publish = async (phase: PublishPhase, moves: AddressMove[]): Promise<void> => {
    d.reconciler.clientExtras.clear();
    if (phase === "old+new")
      for (const m of moves) if (m.from !== m.to) d.reconciler.clientExtras.set(m.id, [m.from, m.to]);
    // Written before the first mon moves, and after the last: a round of our own, now.
    await d.reconciler.run(r.term, signal);
  };
  const note = r.targets.map((t) => `mon.${t.id} → ${t.to}`).join(", ");
  await event(d, ns, {
    type: "Normal",
    reason: "MonMigrationStarted",
    note: `moving mons in place to their global IPs: ${note}`,
  });
  const report = await migrateMons(r.targets, { ceph: r.ceph, clock: d.clock, log: d.log, publish }, signal);
  if (report.outcome === "migrated" || report.outcome === "unchanged") {
    await event(d, ns, {
      type: "Normal",
      reason: "MonMigrationDone",
      note: `mons on their global IPs; moved: ${report.moved.join(", ") || "none"}`,
    });
    return;
  }
  if (report.outcome === "aborted") return;
  const stop = report.stop;
  r.migration.stopped = stop
    ? `${stop.phase}${stop.mon ? ` of mon.${stop.mon}` : ""}: ${stop.reason}: ${stop.hint}`
    : "stopped";
  await event(d, ns, {
    type: "Warning",
    reason: "MonMigrationStopped",
    note: `${r.migration.stopped} (restart the controller to try again)`,
  });
}

async function event(
  d: FollowUpDeps,
  namespace: string,
  e: { type: "Normal" | "Warning"; reason: string; note: string },
): Promise<void> {
  await d.kube.emitEvent({
    regarding: { apiVersion: "v1", kind: "ConfigMap", namespace, name: "rook-ceph-mon-endpoints" },
    action: "MigrateMons",
    ...e,
  });
}
