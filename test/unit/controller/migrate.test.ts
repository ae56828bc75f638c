// migrateMons over a fake CephPort made of captured reef JSON (test/unit/fixtures/ceph/fake-cluster.ts)
// and a fake clock. The real-mon counterpart is test/e2e/migration.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { AgentError } from "../../../agent/errors.ts";
import { formatAddrvec, monAddrvec, parseAddrvec } from "../../../agent/ceph/monmap.ts";
import {
  migrateMons,
  nextMon,
  targetProblems,
  unexpectedChange,
  type AddressMove,
  type MigrationReport,
  type MonTarget,
  type PublishPhase,
  type TimelineEvent,
} from "../../../agent/controller/migrate.ts";
import { FakeCluster } from "../fixtures/ceph/fake-cluster.ts";

const GLOBAL = { a: "242.0.1.10", b: "242.0.1.11", c: "242.0.1.12" } as const;
const targets = (msgr2Only = false): MonTarget[] =>
  (["a", "b", "c"] as const).map((id) => ({ id, to: GLOBAL[id], msgr2Only }));

interface Run {
  report: MigrationReport;
  published: { phase: PublishPhase; addrs: AddressMove[]; setAddrsBefore: number }[];
  events: TimelineEvent[];
}

async function run(
  cluster: FakeCluster,
  opts: { targets?: MonTarget[]; signal?: AbortSignal; publish?: () => Promise<void> } = {},
): Promise<Run> {
  const published: Run["published"] = [];
  const events: TimelineEvent[] = [];
  const report = await migrateMons(
    opts.targets ?? targets(),
    {
      ceph: cluster,
      clock: cluster.clock,
      log: pino({ level: "silent" }),
      publish: async (phase, addrs) => {
        published.push({ phase, addrs, setAddrsBefore: setAddrsCalls(cluster).length });
        await opts.publish?.();
      },
      onTimeline: (e) => events.push(e),
      timings: { settleMs: 10_000 },
    },
    opts.signal ?? new AbortController().signal,
  );
  return { report, published, events };
}

const setAddrsCalls = (c: FakeCluster) => c.calls.filter((x) => x.startsWith("set-addrs"));
const addrsOf = (c: FakeCluster) =>
  c.monmap().mons.map((m) => `${m.rank}:${m.name}=${formatAddrvec(m.addrs)}`);

test("three mons on ClusterIPs: non-leaders first, leader last, each through another mon; quorum kept", async () => {
  const cluster = new FakeCluster();
  const { report, published, events } = await run(cluster);
  assert.equal(report.outcome, "migrated", JSON.stringify(report.stop));
  assert.deepEqual(report.moved, ["b", "c", "a"]);
  assert.deepEqual(setAddrsCalls(cluster), [
    "set-addrs b [v2:242.0.1.11:3300,v1:242.0.1.11:6789] via [v2:10.96.0.10:3300,v1:10.96.0.10:6789]",
    "set-addrs c [v2:242.0.1.12:3300,v1:242.0.1.12:6789] via [v2:10.96.0.10:3300,v1:10.96.0.10:6789]",
    "set-addrs a [v2:242.0.1.10:3300,v1:242.0.1.10:6789] via [v2:242.0.1.11:3300,v1:242.0.1.11:6789]",
  ]);
  assert.deepEqual(addrsOf(cluster), [
    "0:a=[v2:242.0.1.10:3300,v1:242.0.1.10:6789]",
    "1:b=[v2:242.0.1.11:3300,v1:242.0.1.11:6789]",
    "2:c=[v2:242.0.1.12:3300,v1:242.0.1.12:6789]",
  ]);
  assert.equal(cluster.minUp, 2, "never more than one mon down");
  assert.deepEqual(
    published.map((p) => [p.phase, p.setAddrsBefore]),
    [
      ["old+new", 0],
      ["new-only", 3],
    ],
  );
  assert.deepEqual(published[0]!.addrs, [
    { id: "a", from: "10.96.0.10", to: "242.0.1.10" },
    { id: "b", from: "10.96.0.11", to: "242.0.1.11" },
    { id: "c", from: "10.96.0.12", to: "242.0.1.12" },
  ]);
  assert.deepEqual(
    report.steps.map((s) => [s.id, s.rank, s.leader, s.via, s.epochBefore, s.epochAfter, s.extraEpochs]),
    [
      ["b", 1, false, "a", 1, 2, 0],
      ["c", 2, false, "a", 2, 3, 0],
      ["a", 0, true, "b", 3, 4, 0],
    ],
  );
  assert.equal(report.epoch, 4);
  const kinds = events.map((e) => e.event);
  assert.deepEqual(kinds.slice(0, 3), ["start", "quorum", "plan"]);
  assert.equal(kinds.at(-1), "done");
  assert.equal(kinds.filter((k) => k === "settle").length, 2, "settles between steps, not after the last");
});

test("reef's double-applied set-addrs (two epochs, same map) is checked and accepted", async () => {
  const cluster = new FakeCluster();
  cluster.faults.doubleApply.add("c");
  const { report, events } = await run(cluster);
  assert.equal(report.outcome, "migrated", JSON.stringify(report.stop));
  const c = report.steps.find((s) => s.id === "c")!;
  assert.deepEqual([c.epochBefore, c.epochAfter, c.extraEpochs], [2, 4, 1]);
  assert.ok(cluster.calls.includes("mon dump 3") && cluster.calls.includes("mon dump 4"));
  assert.ok(events.some((e) => e.event === "note" && /extra monmap epoch/.test(e.detail)));
});

test("msgr2-only targets get a v2-only addrvec", async () => {
  const cluster = new FakeCluster({ msgr2Only: true });
  const { report } = await run(cluster, { targets: targets(true) });
  assert.equal(report.outcome, "migrated", JSON.stringify(report.stop));
  assert.ok(
    setAddrsCalls(cluster).every((c) =>
      /^set-addrs \w \[v2:242\.0\.1\.1\d:3300\] via \[v2:[\d.]+:3300\]$/.test(c),
    ),
  );
});

test("re-run after a crash: mons already moved are skipped and never sent set-addrs again", async () => {
  const cluster = new FakeCluster();
  cluster.setAddrsDirectly("b", monAddrvec(GLOBAL.b, false));
  const first = await run(cluster);
  assert.equal(first.report.outcome, "migrated", JSON.stringify(first.report.stop));
  assert.deepEqual(first.report.alreadyThere, ["b"]);
  assert.deepEqual(first.report.moved, ["c", "a"]);
  assert.deepEqual(first.published[0]!.addrs[1], { id: "b", from: GLOBAL.b, to: GLOBAL.b });
  const before = cluster.calls.length;
  const again = await run(cluster);
  assert.equal(again.report.outcome, "unchanged");
  assert.deepEqual(
    again.published.map((p) => p.phase),
    ["new-only"],
  );
  assert.equal(setAddrsCalls(cluster).length, 2);
  assert.ok(cluster.calls.slice(before).every((c) => !c.startsWith("set-addrs")));
});

test("re-run while the mon moved by the crashed run is still restarting: waits for it, then skips it", async () => {
  const cluster = new FakeCluster();
  cluster.setAddrsDirectly("c", monAddrvec(GLOBAL.c, false));
  cluster.stop("c");
  cluster.start("c", 8_000);
  const { report } = await run(cluster);
  assert.equal(report.outcome, "migrated", JSON.stringify(report.stop));
  assert.deepEqual(report.alreadyThere, ["c"]);
  assert.deepEqual(report.moved, ["b", "a"]);
});

test("a mon out of quorum before the start: nothing published, nothing moved, says which mon", async () => {
  const cluster = new FakeCluster();
  cluster.stop("c");
  const { report, published } = await run(cluster);
  assert.equal(report.outcome, "stopped");
  assert.equal(report.stop?.phase, "read");
  assert.match(report.stop.reason, /mon\.c not in quorum/);
  assert.match(report.stop.hint, /bring every mon back into quorum/);
  assert.equal(published.length, 0);
  assert.equal(setAddrsCalls(cluster).length, 0);
});

test("a mon that never comes back: stop at wait, name it, hint the monmap injection, no next mon", async () => {
  const cluster = new FakeCluster();
  cluster.faults.neverBack.add("b");
  const { report, published } = await run(cluster);
  assert.equal(report.outcome, "stopped");
  assert.deepEqual([report.stop?.phase, report.stop?.mon, report.stop?.kind], ["wait", "b", "retryable"]);
  assert.match(
    report.stop?.reason ?? "",
    /mon\.b not back with \[v2:242\.0\.1\.11:3300,v1:242\.0\.1\.11:6789\]: mon\.b not in quorum/,
  );
  assert.match(report.stop?.hint ?? "", /--inject-monmap/);
  assert.equal(setAddrsCalls(cluster).length, 1);
  assert.deepEqual(
    published.map((p) => p.phase),
    ["old+new"],
    "old addresses stay in client configs",
  );
});

test("another mon's address changes during a step: stop at once", async () => {
  const cluster = new FakeCluster();
  cluster.hook = (call, c) => {
    if (call.startsWith("set-addrs b")) c.setAddrsDirectly("c", monAddrvec("10.96.9.9", false));
  };
  const { report } = await run(cluster);
  assert.equal(report.outcome, "stopped");
  assert.deepEqual([report.stop?.phase, report.stop?.mon, report.stop?.kind], ["wait", "b", "permanent"]);
  assert.match(report.stop?.reason ?? "", /mon\.c's address changed to \[v2:10\.96\.9\.9/);
  assert.match(report.stop?.hint ?? "", /something else changed the monmap/);
  assert.equal(setAddrsCalls(cluster).length, 1);
});

test("set-addrs refused: stop before waiting, nothing else sent", async () => {
  const cluster = new FakeCluster();
  cluster.faults.refuse.set(
    "b",
    new AgentError("permanent", "ceph mon set-addrs b … failed (exit 13): Error EACCES"),
  );
  const { report } = await run(cluster);
  assert.deepEqual([report.outcome, report.stop?.phase, report.stop?.mon], ["stopped", "set-addrs", "b"]);
  assert.match(report.stop?.reason ?? "", /EACCES/);
  assert.match(report.stop?.hint ?? "", /nothing was changed/);
  assert.equal(cluster.calls.at(-1), setAddrsCalls(cluster)[0]);
});

test("set-addrs reply lost but applied: the result is checked and the migration goes on", async () => {
  const cluster = new FakeCluster();
  cluster.faults.lostReply.add("c");
  const { report, events } = await run(cluster);
  assert.equal(report.outcome, "migrated", JSON.stringify(report.stop));
  assert.equal(report.steps.find((s) => s.id === "c")?.replyMs, undefined);
  assert.ok(events.some((e) => e.event === "no-reply" && /looking whether it took effect/.test(e.detail)));
});

test("set-addrs timed out and not applied: stop at wait after the timeout", async () => {
  const cluster = new FakeCluster();
  cluster.faults.droppedCommand.add("b");
  const { report } = await run(cluster);
  assert.deepEqual([report.outcome, report.stop?.phase, report.stop?.mon], ["stopped", "wait", "b"]);
  assert.match(report.stop?.reason ?? "", /does not show the new addrvec yet/);
});

test("targets that do not fit the monmap: stop before anything is published", async () => {
  const cases: [MonTarget[], RegExp][] = [
    [targets().slice(0, 2), /mon\.c has no target/],
    [[...targets(), { id: "d", to: "242.0.1.13", msgr2Only: false }], /mon\.d is not in the monmap/],
    [targets().map((t) => ({ ...t, to: "242.0.1.10" })), /242\.0\.1\.10 is given to more than one mon/],
    [targets().map((t) => (t.id === "a" ? { ...t, to: "[242.0.1.10]" } : t)), /is not a bare IP/],
    [
      targets().map((t) => (t.id === "a" ? { ...t, to: "10.96.0.11" } : t)),
      /10\.96\.0\.11 is mon\.b's current address/,
    ],
  ];
  for (const [list, message] of cases) {
    const cluster = new FakeCluster();
    const { report, published } = await run(cluster, { targets: list });
    assert.deepEqual(
      [report.outcome, report.stop?.phase, report.stop?.kind],
      ["stopped", "validate", "permanent"],
    );
    assert.match(report.stop?.reason ?? "", message);
    assert.equal(published.length, 0);
  }
});

test("publishing old+new fails: no mon is touched", async () => {
  const cluster = new FakeCluster();
  const { report } = await run(cluster, {
    publish: () => Promise.reject(new AgentError("retryable", "Secret rook-ceph/rook-ceph-config: 409")),
  });
  assert.deepEqual(
    [report.outcome, report.stop?.phase, report.stop?.kind],
    ["stopped", "publish", "retryable"],
  );
  assert.match(report.stop?.reason ?? "", /old\+new mon addresses/);
  assert.equal(setAddrsCalls(cluster).length, 0);
});

test("aborted while a mon restarts (lost the lease): report where, no further calls", async () => {
  const cluster = new FakeCluster();
  const ac = new AbortController();
  cluster.hook = (call) => {
    if (call.startsWith("set-addrs c")) ac.abort(new Error("lost the lease"));
  };
  const { report } = await run(cluster, { signal: ac.signal });
  assert.deepEqual([report.outcome, report.stop?.phase, report.stop?.mon], ["aborted", "set-addrs", "c"]);
  assert.match(report.stop?.reason ?? "", /aborted: lost the lease/);
  assert.equal(cluster.calls.at(-1), setAddrsCalls(cluster).at(-1));
});

test("aborted during the wait: the hint says the mon may be restarting", async () => {
  const cluster = new FakeCluster();
  const ac = new AbortController();
  let looks = 0;
  cluster.hook = (call) => {
    if (call === "quorum_status" && setAddrsCalls(cluster).length === 1 && ++looks === 2)
      ac.abort(new Error("SIGTERM"));
  };
  const { report } = await run(cluster, { signal: ac.signal });
  assert.deepEqual([report.outcome, report.stop?.phase, report.stop?.mon], ["aborted", "wait", "b"]);
  assert.match(report.stop?.hint ?? "", /mon\.b may be restarting/);
});

test("a mon lagging on an older monmap epoch blocks the next step until it catches up or times out", async () => {
  const cluster = new FakeCluster();
  const real = cluster.monStatus.bind(cluster);
  cluster.monStatus = async (id, signal) => {
    const s = await real(id, signal);
    return id === "c" ? { ...s, monmap: { ...s.monmap, epoch: s.monmap.epoch - 1 } } : s;
  };
  const { report } = await run(cluster);
  assert.deepEqual([report.outcome, report.stop?.phase], ["stopped", "read"]);
  assert.match(report.stop?.reason ?? "", /mon\.c is on monmap e0, the quorum on e1/);
});

test("a permanent CLI error while looking (e.g. the keyring is gone) stops instead of looping", async () => {
  const cluster = new FakeCluster();
  cluster.hook = (call) => {
    if (call === "quorum_status" && setAddrsCalls(cluster).length === 1)
      throw new AgentError(
        "permanent",
        "ceph quorum_status failed (exit 1): [errno 13] error connecting to the cluster",
      );
  };
  const { report } = await run(cluster);
  assert.deepEqual([report.outcome, report.stop?.phase, report.stop?.mon], ["stopped", "wait", "b"]);
  assert.match(report.stop?.reason ?? "", /errno 13/);
});

test("pure helpers: order, target problems, unexpected monmap changes", () => {
  const cluster = new FakeCluster();
  const map = cluster.monmap();
  const q = { electionEpoch: 1, quorum: ["a", "b", "c"], leader: "b", monmap: map };
  assert.equal(nextMon(q, new Set(["a", "b", "c"])), "a");
  assert.equal(nextMon(q, new Set(["b"])), "b");
  assert.deepEqual(targetProblems(targets(), map), []);
  const want = parseAddrvec("[v2:242.0.1.11:3300]");
  const moved = { ...map, epoch: 2, mons: map.mons.map((m) => (m.name === "b" ? { ...m, addrs: want } : m)) };
  assert.equal(unexpectedChange(map, moved, "b", want), undefined);
  assert.match(unexpectedChange(map, moved, "c", want) ?? "", /mon\.b's address changed/);
  assert.match(unexpectedChange(map, { ...moved, epoch: 9 }, "b", want) ?? "", /from e1 to e9/);
  assert.match(unexpectedChange(moved, map, "b", want) ?? "", /went back/);
  assert.match(unexpectedChange(map, { ...map, fsid: "x" }, "b", want) ?? "", /fsid/);
  const fewer = { ...moved, mons: moved.mons.slice(0, 2) };
  assert.match(unexpectedChange(map, fewer, "b", want) ?? "", /members changed/);
});
