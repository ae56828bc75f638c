import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { planCleanup, type CleanupInput } from "../../../agent/controller/cleanup.ts";
import type { DaemonExport, DaemonService } from "../../../agent/controller/kube-port.ts";

const GRACE = 60_000;

function svc(name: string, createdByAgent = true, uid = `uid-svc-${name}`): DaemonService {
  return { name, uid, clusterIP: "10.96.0.1", annotations: {}, createdByAgent };
}

function exp(name: string, o: { agent?: boolean; rook?: boolean; uid?: string } = {}): DaemonExport {
  return {
    name,
    uid: o.uid ?? `uid-exp-${name}`,
    annotations: {},
    conditions: [],
    createdByAgent: o.agent ?? true,
    ownedByCephCluster: o.rook ?? false,
  };
}

function input(over: Partial<CleanupInput>): CleanupInput {
  return {
    services: [],
    exports: [],
    deployments: ["rook-ceph-mon-a", "rook-ceph-osd-0"],
    monIds: ["a"],
    firstSeen: new Map(),
    now: 1_000_000,
    graceMs: GRACE,
    ...over,
  };
}

test("objects of existing daemons are never orphans", () => {
  const plan = planCleanup(
    input({
      services: [svc("rook-ceph-mon-a"), svc("rook-ceph-osd-0")],
      exports: [exp("rook-ceph-mon-a"), exp("rook-ceph-osd-0", { rook: true, agent: false })],
    }),
  );
  assert.deepEqual(plan, { delete: [], waiting: [], foreign: [] });
});

test("a mon listed in rook-ceph-mon-endpoints exists even while its Deployment is gone (failover)", () => {
  const plan = planCleanup(input({ deployments: ["rook-ceph-osd-0"], services: [svc("rook-ceph-mon-a")] }));
  assert.deepEqual(plan.waiting, []);
  assert.deepEqual(plan.delete, []);
});

test("an orphan waits out the grace period, then is deleted (with its uid as precondition)", () => {
  const firstSeen = new Map<string, number>();
  const services = [svc("rook-ceph-osd-7")];
  const at = (now: number) => planCleanup(input({ services, firstSeen, now }));

  const first = at(1_000_000);
  assert.deepEqual(first.waiting, [{ kind: "Service", name: "rook-ceph-osd-7", remainingMs: GRACE }]);
  assert.deepEqual(first.delete, []);

  const later = at(1_000_000 + GRACE - 1);
  assert.deepEqual(later.waiting, [{ kind: "Service", name: "rook-ceph-osd-7", remainingMs: 1 }]);

  const due = at(1_000_000 + GRACE);
  assert.deepEqual(due.waiting, []);
  assert.deepEqual(due.delete, [
    { kind: "Service", name: "rook-ceph-osd-7", uid: "uid-svc-rook-ceph-osd-7" },
  ]);
});

test("grace 0: deleted in the round it is first seen", () => {
  const plan = planCleanup(input({ exports: [exp("rook-ceph-mon-q")], graceMs: 0 }));
  assert.deepEqual(plan.delete, [
    { kind: "ServiceExport", name: "rook-ceph-mon-q", uid: "uid-exp-rook-ceph-mon-q" },
  ]);
});

test("only objects made for MCS by the agent or by Rook; others are reported, never deleted", () => {
  const firstSeen = new Map<string, number>();
  const round = (now: number) =>
    planCleanup(
      input({
        firstSeen,
        now,
        services: [svc("rook-ceph-osd-9", false), svc("rook-ceph-osd-8", true)],
        exports: [
          exp("rook-ceph-osd-9", { agent: false, rook: false }), // somebody else's
          exp("rook-ceph-osd-8", { agent: false, rook: true }), // Rook's (CephCluster owner)
          exp("rook-ceph-osd-6", { agent: true, rook: false }), // the agent's
        ],
      }),
    );
  round(0);
  const plan = round(10 * GRACE);
  assert.deepEqual(
    plan.delete.map((d) => `${d.kind}/${d.name}`),
    ["ServiceExport/rook-ceph-osd-8", "ServiceExport/rook-ceph-osd-6", "Service/rook-ceph-osd-8"],
  );
  assert.deepEqual(plan.foreign, [
    { kind: "ServiceExport", name: "rook-ceph-osd-9" },
    { kind: "Service", name: "rook-ceph-osd-9" },
  ]);
  assert.ok(![...firstSeen.keys()].some((k) => k.includes("osd-9")), "foreign objects are not tracked");
});

test("a Rook-created Service (not the agent's) is foreign even when its daemon is gone", () => {
  const plan = planCleanup(input({ services: [svc("rook-ceph-mon-z", false)], graceMs: 0 }));
  assert.deepEqual(plan.delete, []);
  assert.deepEqual(plan.foreign, [{ kind: "Service", name: "rook-ceph-mon-z" }]);
});

test("a daemon that comes back stops the clock; if it goes again, the grace period starts over", () => {
  const firstSeen = new Map<string, number>();
  const services = [svc("rook-ceph-osd-3")];
  planCleanup(input({ services, firstSeen, now: 0 }));
  assert.equal(firstSeen.size, 1);

  const back = planCleanup(
    input({ services, firstSeen, now: GRACE / 2, deployments: ["rook-ceph-mon-a", "rook-ceph-osd-3"] }),
  );
  assert.deepEqual(back, { delete: [], waiting: [], foreign: [] });
  assert.equal(firstSeen.size, 0);

  const goneAgain = planCleanup(input({ services, firstSeen, now: GRACE + 1 }));
  assert.deepEqual(goneAgain.delete, []);
  assert.deepEqual(goneAgain.waiting, [{ kind: "Service", name: "rook-ceph-osd-3", remainingMs: GRACE }]);
});

test("a re-created object (new uid) gets its own grace period; the old one is forgotten", () => {
  const firstSeen = new Map<string, number>();
  planCleanup(input({ exports: [exp("rook-ceph-osd-4", { uid: "old" })], firstSeen, now: 0 }));
  const plan = planCleanup(
    input({ exports: [exp("rook-ceph-osd-4", { uid: "new" })], firstSeen, now: GRACE }),
  );
  assert.deepEqual(plan.delete, []);
  assert.deepEqual(plan.waiting, [{ kind: "ServiceExport", name: "rook-ceph-osd-4", remainingMs: GRACE }]);
  assert.deepEqual([...firstSeen.keys()], ["ServiceExport/rook-ceph-osd-4/new"]);
});

test("a Service and an export of the same name are timed apart", () => {
  const firstSeen = new Map<string, number>();
  planCleanup(input({ services: [svc("rook-ceph-osd-5")], firstSeen, now: 0 }));
  const plan = planCleanup(
    input({ services: [svc("rook-ceph-osd-5")], exports: [exp("rook-ceph-osd-5")], firstSeen, now: GRACE }),
  );
  assert.deepEqual(
    plan.delete.map((d) => d.kind),
    ["Service"],
  );
  assert.deepEqual(plan.waiting, [{ kind: "ServiceExport", name: "rook-ceph-osd-5", remainingMs: GRACE }]);
});

test("an object that went away is forgotten", () => {
  const firstSeen = new Map<string, number>();
  planCleanup(input({ services: [svc("rook-ceph-osd-5")], firstSeen, now: 0 }));
  planCleanup(input({ services: [], firstSeen, now: 1 }));
  assert.equal(firstSeen.size, 0);
});

test("no daemon at all (uninstall, restore, missing permission): nothing is judged, clocks reset", () => {
  const firstSeen = new Map<string, number>([["Service/rook-ceph-osd-1/u", 0]]);
  const plan = planCleanup(
    input({ deployments: [], monIds: [], services: [svc("rook-ceph-osd-1")], firstSeen, now: 10 * GRACE }),
  );
  assert.deepEqual(plan.delete, []);
  assert.deepEqual(plan.waiting, []);
  assert.match(plan.skipped ?? "", /no mon or OSD Deployment and no mon in rook-ceph-mon-endpoints/);
  assert.equal(firstSeen.size, 0);
});

test("mon names are matched whole: a mon id only counts for its own Service", () => {
  const plan = planCleanup(
    input({
      monIds: ["a"],
      deployments: ["rook-ceph-osd-0"],
      services: [svc("rook-ceph-mon-ab")],
      graceMs: 0,
    }),
  );
  assert.deepEqual(
    plan.delete.map((d) => d.name),
    ["rook-ceph-mon-ab"],
  );
  // An OSD id is not a mon id.
  const osd = planCleanup(input({ monIds: ["3"], services: [svc("rook-ceph-osd-3")], graceMs: 0 }));
  assert.deepEqual(
    osd.delete.map((d) => d.name),
    ["rook-ceph-osd-3"],
  );
});

// Property: over any sequence of rounds, nothing is deleted that is foreign, belongs to an existing
// daemon, or has not been an orphan for the whole grace period.
const daemonNames = [
  "rook-ceph-mon-a",
  "rook-ceph-mon-b",
  "rook-ceph-osd-0",
  "rook-ceph-osd-1",
  "rook-ceph-osd-2",
];
const round = fc.record({
  advance: fc.integer({ min: 0, max: GRACE }),
  alive: fc.subarray(daemonNames),
  services: fc.subarray(daemonNames).map((ns) => ns.map((n) => svc(n, !n.endsWith("2")))),
  exports: fc
    .subarray(daemonNames)
    .map((ns) => ns.map((n) => exp(n, { agent: n.endsWith("0"), rook: n.includes("mon") }))),
});

test("property: deletions only of our orphans, and only after a full grace period as orphans", () => {
  fc.assert(
    fc.property(fc.array(round, { minLength: 1, maxLength: 12 }), (rounds) => {
      const firstSeen = new Map<string, number>();
      const orphanSince = new Map<string, number>();
      let now = 0;
      for (const r of rounds) {
        now += r.advance;
        const plan = planCleanup(
          input({
            ...r,
            deployments: r.alive.filter((n) => n.includes("osd")),
            monIds: monIdsOf(r.alive),
            firstSeen,
            now,
          }),
        );
        const orphans = orphanKeys(r.services, r.exports, r.alive);
        for (const k of orphanSince.keys()) if (!orphans.has(k)) orphanSince.delete(k);
        for (const k of orphans) if (!orphanSince.has(k)) orphanSince.set(k, now);
        if (r.alive.length === 0) orphanSince.clear();
        for (const d of plan.delete) {
          const key = `${d.kind}/${d.name}`;
          assert.ok(!r.alive.includes(d.name), `${key} belongs to a live daemon`);
          assert.ok(ours(d.kind, d.name, r.services, r.exports), `${key} is not ours`);
          assert.ok(now - (orphanSince.get(key) ?? now) >= GRACE, `${key} deleted within the grace period`);
        }
      }
    }),
  );
});

function monIdsOf(alive: readonly string[]): string[] {
  return alive.filter((n) => n.includes("mon")).map((n) => n.slice("rook-ceph-mon-".length));
}

function orphanKeys(
  services: DaemonService[],
  exports: DaemonExport[],
  alive: readonly string[],
): Set<string> {
  const keys = [
    ...services.filter((s) => s.createdByAgent).map((s) => `Service/${s.name}`),
    ...exports.filter((e) => e.createdByAgent || e.ownedByCephCluster).map((e) => `ServiceExport/${e.name}`),
  ];
  return new Set(keys.filter((k) => !alive.includes(k.slice(k.indexOf("/") + 1))));
}

function ours(kind: string, name: string, services: DaemonService[], exports: DaemonExport[]): boolean {
  if (kind === "Service") return services.some((s) => s.name === name && s.createdByAgent);
  return exports.some((e) => e.name === name && (e.createdByAgent || e.ownedByCephCluster));
}
