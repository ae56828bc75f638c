// Prometheus metrics (prom-client, on a registry of our own so tests can run several side by side).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

export interface ControllerMetrics {
  readonly registry: Registry;
  readonly leader: Gauge;
  readonly leaderChanges: Counter;
  readonly writes: Counter<"object">;
  readonly conflicts: Counter;
  readonly rounds: Counter<"result">;
  readonly roundSeconds: Histogram;
  readonly heldBack: Gauge<"reason">;
  readonly deletions: Counter<"kind">;
  readonly addressAge: Gauge<"daemon" | "address">;
}

export function createMetrics(): ControllerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "ceph_mcs_agent_" });
  const registers = [registry];
  return {
    registry,
    leader: new Gauge({ name: "ceph_mcs_leader", help: "1 while this replica leads", registers }),
    leaderChanges: new Counter({
      name: "ceph_mcs_leader_changes_total",
      help: "leaders seen taking the lease (including this replica)",
      registers,
    }),
    writes: new Counter({
      name: "ceph_mcs_writes_total",
      help: "writes of Rook's mon address objects",
      labelNames: ["object"],
      registers,
    }),
    conflicts: new Counter({
      name: "ceph_mcs_write_conflicts_total",
      help: "writes refused with 409 Conflict (someone wrote in between; re-read and recomputed)",
      registers,
    }),
    rounds: new Counter({
      name: "ceph_mcs_reconcile_total",
      help: "reconcile rounds by result",
      labelNames: ["result"],
      registers,
    }),
    roundSeconds: new Histogram({
      name: "ceph_mcs_reconcile_duration_seconds",
      help: "duration of a reconcile round",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    heldBack: new Gauge({
      name: "ceph_mcs_mons_held_back",
      help: "mons whose pinned global IP is not written yet (needs-migration, unconfirmed)",
      labelNames: ["reason"],
      registers,
    }),
    deletions: new Counter({
      name: "ceph_mcs_cleanup_deletions_total",
      help: "Services/ServiceExports of vanished daemons deleted",
      labelNames: ["kind"],
      registers,
    }),
    addressAge: new Gauge({
      name: "ceph_mcs_daemon_address_age_seconds",
      help: "seconds since each daemon's global IP was pinned",
      labelNames: ["daemon", "address"],
      registers,
    }),
  };
}
