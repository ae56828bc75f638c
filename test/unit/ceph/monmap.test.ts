import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { AgentError } from "../../../agent/errors.ts";
import {
  addrvecIPs,
  findMon,
  formatAddrvec,
  monAddrvec,
  parseAddrvec,
  parseEntityAddr,
  parseJson,
  parseMonDump,
  parseMonStatus,
  parseQuorumStatus,
  sameAddrvec,
} from "../../../agent/ceph/monmap.ts";

// Captured from three real ceph-mon 18.2.7 (reef) daemons, see test/unit/fixtures/ceph/README.md.
const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../fixtures/ceph/${name}.json`, import.meta.url), "utf8"));

test("quorum_status from reef: names, leader, monmap with addrvecs in rank order", () => {
  const q = parseQuorumStatus(fixture("reef-quorum-status"));
  assert.deepEqual(q.quorum, ["a", "b", "c"]);
  assert.equal(q.leader, "a");
  assert.equal(q.monmap.epoch, 1);
  assert.deepEqual(
    q.monmap.mons.map((m) => [m.rank, m.name, formatAddrvec(m.addrs)]),
    [
      [0, "a", "[v2:10.96.0.10:3300,v1:10.96.0.10:6789]"],
      [1, "b", "[v2:10.96.0.11:3300,v1:10.96.0.11:6789]"],
      [2, "c", "[v2:10.96.0.12:3300,v1:10.96.0.12:6789]"],
    ],
  );
});

test("mon dump and mon_status from reef (keys with a trailing ': ' tolerated)", () => {
  const map = parseMonDump(fixture("reef-mon-dump"));
  assert.equal(map.mons.length, 3);
  assert.match(map.fsid, /^[0-9a-f-]{36}$/);
  const s = parseMonStatus(fixture("reef-mon-status-b"));
  assert.deepEqual([s.name, s.rank, s.state, s.monmap.epoch], ["b", 1, "peon", 1]);
  assert.equal(parseMonStatus(fixture("reef-mon-status-a")).state, "leader");
});

test("after the migration every mon advertises its global IP (reef, same names and ranks)", () => {
  const q = parseQuorumStatus(fixture("reef-quorum-status-migrated"));
  assert.deepEqual(
    q.monmap.mons.map((m) => [m.rank, m.name, addrvecIPs(m.addrs)]),
    [
      [0, "a", ["242.0.1.10"]],
      [1, "b", ["242.0.1.11"]],
      [2, "c", ["242.0.1.12"]],
    ],
  );
  assert.ok(q.monmap.epoch > 1);
});

test("addrvec text form: both messengers, msgr2-only, IPv6 in brackets", () => {
  assert.equal(formatAddrvec(monAddrvec("242.0.1.10", false)), "[v2:242.0.1.10:3300,v1:242.0.1.10:6789]");
  assert.equal(formatAddrvec(monAddrvec("242.0.1.10", true)), "[v2:242.0.1.10:3300]");
  assert.equal(formatAddrvec(monAddrvec("fd00::a", false)), "[v2:[fd00::a]:3300,v1:[fd00::a]:6789]");
  assert.equal(formatAddrvec(monAddrvec("fd00::a", true)), "[v2:[fd00::a]:3300]");
});

test("addrvec parsing: with/without brackets, nonces, legacy untyped, round trip", () => {
  const v = parseAddrvec("[v2:242.0.1.11:3300/0,v1:242.0.1.11:6789/0]");
  assert.ok(sameAddrvec(v, monAddrvec("242.0.1.11", false)));
  assert.ok(sameAddrvec(parseAddrvec("v2:[fd00::b]:3300"), monAddrvec("fd00::b", true)));
  assert.deepEqual(parseEntityAddr("10.0.0.1:6789"), { type: "any", ip: "10.0.0.1", port: 6789 });
  for (const text of ["[v2:1.2.3.4:3300,v1:1.2.3.4:6789]", "[v2:[::1]:3300]", "[1.2.3.4:6789]"])
    assert.equal(formatAddrvec(parseAddrvec(text)), text);
  assert.ok(!sameAddrvec(monAddrvec("1.2.3.4", false), monAddrvec("1.2.3.4", true)));
  assert.ok(!sameAddrvec(monAddrvec("1.2.3.4", false), monAddrvec("1.2.3.5", false)));
});

test("malformed addresses and JSON are permanent errors that say what was unexpected", () => {
  for (const text of [
    "",
    "[]",
    "v3:1.2.3.4:3300",
    "v2:1.2.3.4",
    "v2:1.2.3.4:70000",
    "v2:fd00::1:3300",
    "v2:x:1",
  ])
    assert.throws(
      () => parseAddrvec(text),
      (e: unknown) => e instanceof AgentError && e.kind === "permanent",
    );
  assert.throws(() => parseJson("ok\n", "quorum_status output"), /unexpected quorum_status output: not JSON/);
  assert.throws(() => parseQuorumStatus({ quorum_names: [] }), /"election_epoch" is not an integer/);
  const holes = { epoch: 1, fsid: "f", mons: [{ rank: 1, name: "b", public_addrs: { addrvec: [] } }] };
  assert.throws(() => parseMonDump(holes), /empty addrvec/);
});

test("ranks must be 0..n-1; entries come back in rank order; findMon", () => {
  const entry = (rank: number, name: string) => ({
    rank,
    name,
    public_addrs: { addrvec: [{ type: "v2", addr: `10.0.0.${rank + 1}:3300`, nonce: 0 }] },
  });
  const map = parseMonDump({ epoch: 3, fsid: "f", mons: [entry(1, "b"), entry(0, "a")] });
  assert.deepEqual(
    map.mons.map((m) => m.name),
    ["a", "b"],
  );
  assert.equal(findMon(map, "b")?.rank, 1);
  assert.equal(findMon(map, "z"), undefined);
  assert.throws(() => parseMonDump({ epoch: 3, fsid: "f", mons: [entry(0, "a"), entry(2, "c")] }), /ranks/);
});

test("IPv6 monmap entries (synthetic, same shape as reef's JSON)", () => {
  const q = parseQuorumStatus({
    election_epoch: 4,
    quorum_names: ["a"],
    quorum_leader_name: "a",
    monmap: {
      epoch: 2,
      fsid: "f",
      mons: [
        {
          rank: 0,
          name: "a",
          public_addrs: { addrvec: [{ type: "v2", addr: "[fd00:242::10]:3300", nonce: 0 }] },
        },
      ],
    },
  });
  assert.ok(sameAddrvec(q.monmap.mons[0]!.addrs, monAddrvec("fd00:242::10", true)));
});
