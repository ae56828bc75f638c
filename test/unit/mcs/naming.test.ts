import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_ZONE,
  clustersetName,
  serviceName,
  validateClusterID,
  validateDaemonId,
  validateDnsName,
  validateZone,
} from "../../../agent/mcs/naming.ts";

test("serviceName: Rook's names", () => {
  assert.equal(serviceName({ type: "mon", id: "a" }), "rook-ceph-mon-a");
  assert.equal(serviceName({ type: "mon", id: "ab" }), "rook-ceph-mon-ab");
  assert.equal(serviceName({ type: "osd", id: "0" }), "rook-ceph-osd-0");
  assert.equal(serviceName({ type: "osd", id: "12" }), "rook-ceph-osd-12");
});

test("clustersetName: absolute, cluster-specific", () => {
  assert.equal(DEFAULT_ZONE, "clusterset.local");
  assert.equal(
    clustersetName("east", "rook-ceph-mon-a", "rook-ceph"),
    "east.rook-ceph-mon-a.rook-ceph.svc.clusterset.local.",
  );
  assert.equal(
    clustersetName("c1", "rook-ceph-osd-3", "ns", "example.org."),
    "c1.rook-ceph-osd-3.ns.svc.example.org.",
  );
});

const clusterIDs: [string, boolean][] = [
  ["east", true],
  ["c1", true],
  ["a", true],
  ["dc10a8c5-1234-4f6e-9a1b-0123456789ab", true], // ODF uses UUIDs
  ["x".repeat(63), true],
  ["x".repeat(64), false],
  ["", false],
  ["East", false],
  ["-east", false],
  ["east-", false],
  ["east.west", false],
  ["east_1", false],
];
for (const [id, ok] of clusterIDs) {
  test(`validateClusterID(${JSON.stringify(id.length > 20 ? `${id.slice(0, 8)}…(${id.length})` : id)}) ${ok ? "ok" : "problem"}`, () => {
    const problem = validateClusterID(id);
    if (ok) assert.equal(problem, undefined);
    else assert.match(problem ?? "", /^cluster ID .*(empty|characters|lowercase)/);
  });
}

const zones: [string, boolean][] = [
  ["clusterset.local", true],
  ["clusterset.local.", true],
  ["example", true],
  ["a-b.c-d.example", true],
  ["", false],
  ["clusterset..local", false],
  [".clusterset.local", false],
  ["Clusterset.local", false],
  ["cluster_set.local", false],
  [`${"x".repeat(64)}.local`, false],
  [Array(64).fill("abc").join("."), false],
];
for (const [zone, ok] of zones) {
  test(`validateZone(${JSON.stringify(zone.slice(0, 30))}) ${ok ? "ok" : "problem"}`, () => {
    const problem = validateZone(zone);
    if (ok) assert.equal(problem, undefined);
    else assert.match(problem ?? "", /^zone /);
  });
}

const daemons: [string, string, boolean][] = [
  ["mon", "a", true],
  ["mon", "z", true],
  ["mon", "aa", true],
  ["mon", "abc", true],
  ["mon", "A", false],
  ["mon", "a1", false],
  ["mon", "", false],
  ["mon", "a-b", false],
  ["mon", "a".repeat(49), true],
  ["mon", "a".repeat(50), false],
  ["osd", "0", true],
  ["osd", "7", true],
  ["osd", "1234", true],
  ["osd", "2147483647", true],
  ["osd", "2147483648", false],
  ["osd", "01", false],
  ["osd", "-1", false],
  ["osd", "1.0", false],
  ["osd", "", false],
  ["osd", "a", false],
];
for (const [type, id, ok] of daemons) {
  test(`validateDaemonId(${type} ${JSON.stringify(id.slice(0, 12))}) ${ok ? "ok" : "problem"}`, () => {
    const problem = validateDaemonId({ type: type as "mon" | "osd", id });
    if (ok) assert.equal(problem, undefined);
    else assert.match(problem ?? "", new RegExp(`^${type} id `));
  });
}

test("validateDnsName: length limits of the whole name and each label", () => {
  assert.equal(validateDnsName(clustersetName("east", "rook-ceph-mon-a", "rook-ceph")), undefined);
  const label63 = "x".repeat(63);
  const exactly253 = [label63, label63, label63, "x".repeat(61)].join(".");
  assert.equal(exactly253.length, 253);
  assert.equal(validateDnsName(exactly253), undefined);
  assert.equal(validateDnsName(`${exactly253}.`), undefined);
  assert.match(validateDnsName(`${exactly253}x`) ?? "", /254 characters long \(at most 253\)/);
  assert.match(validateDnsName(`${"x".repeat(64)}.local.`) ?? "", /label of 64 characters/);
  assert.match(validateDnsName("a..b.") ?? "", /label of 0 characters/);
  const longNs = clustersetName(
    "east",
    "rook-ceph-mon-a",
    "n".repeat(63),
    [label63, label63, label63].join("."),
  );
  assert.match(validateDnsName(longNs) ?? "", /shorten the cluster ID, namespace or zone/);
});
