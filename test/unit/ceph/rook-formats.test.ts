import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { parse as parseYaml } from "yaml";
import {
  csiMonitor,
  formatMonEndpoints,
  formatMonHost,
  goJson,
  joinHostPort,
  monHostEntry,
  parseIdList,
  parseMonEndpoints,
  sameSet,
  splitMonHost,
  updateCsiMonitors,
  type MonEndpoint,
} from "../../../agent/ceph/rook-formats.ts";

const v4: MonEndpoint[] = [
  { id: "a", ip: "242.1.255.251", port: 6789 },
  { id: "b", ip: "242.1.255.252", port: 6789 },
  { id: "c", ip: "242.1.255.253", port: 3300 },
];
const v6: MonEndpoint[] = [
  { id: "a", ip: "fd00:242:1::a", port: 6789 },
  { id: "b", ip: "fd00::1", port: 3300 },
];

// Arbitraries: what Rook can hold. Mon ids are Rook's letters; IPs in Node's (canonical) text form.
const monId = fc.stringMatching(/^[a-z]{1,3}$/);
const ip = fc.oneof(fc.ipV4(), fc.ipV6());
const port = fc.constantFrom(6789, 3300, 6790);
const mon = fc.record({ id: monId, ip, port }).map((m): MonEndpoint => ({ ...m }));
const mons = fc.uniqueArray(mon, {
  selector: (m) => m.id,
  minLength: 1,
  maxLength: 7,
});

test("joinHostPort: Go's net.JoinHostPort", () => {
  assert.equal(joinHostPort("10.0.0.1", 6789), "10.0.0.1:6789");
  assert.equal(joinHostPort("fd00::1", 3300), "[fd00::1]:3300");
  assert.equal(joinHostPort("::ffff:10.0.0.1", 6789), "[::ffff:10.0.0.1]:6789");
});

test("parseMonEndpoints: Rook's data value, IPv4 and IPv6", () => {
  assert.deepEqual(parseMonEndpoints("a=242.1.255.251:6789,b=242.1.255.252:6789,c=242.1.255.253:3300"), v4);
  assert.deepEqual(parseMonEndpoints("a=[fd00:242:1::a]:6789,b=[fd00::1]:3300"), v6);
  assert.deepEqual(parseMonEndpoints("aa=[FD00::AB]:6789"), [{ id: "aa", ip: "FD00::AB", port: 6789 }]);
});

test("parseMonEndpoints: empty data is no mon", () => {
  assert.deepEqual(parseMonEndpoints(""), []);
  assert.deepEqual(parseMonEndpoints("  "), []);
});

for (const bad of [
  "a",
  "a=",
  "=10.0.0.1:6789",
  "a=10.0.0.1",
  "a=10.0.0.1:",
  "a=10.0.0.1:0",
  "a=10.0.0.1:65536",
  "a=10.0.0.1:123456",
  "a=fd00::1:6789",
  "a=[fd00::1]",
  "a=[fd00::1]6789",
  "a=10.0.0.1:6789,",
  "a=10.0.0.1:6789,,b=10.0.0.2:6789",
]) {
  test(`parseMonEndpoints rejects ${JSON.stringify(bad)} and names the entry`, () => {
    assert.throws(() => parseMonEndpoints(bad), /mon endpoint ".*" is not <id>=<ip>:<port>/);
  });
}

test("formatMonEndpoints: stored order, brackets for IPv6", () => {
  assert.equal(formatMonEndpoints(v4), "a=242.1.255.251:6789,b=242.1.255.252:6789,c=242.1.255.253:3300");
  assert.equal(formatMonEndpoints(v6), "a=[fd00:242:1::a]:6789,b=[fd00::1]:3300");
  assert.equal(formatMonEndpoints([...v4].reverse()).split(",")[0], "c=242.1.255.253:3300");
  assert.equal(formatMonEndpoints([]), "");
});

test("property: parseMonEndpoints(formatMonEndpoints(x)) = x, and the text round-trips too", () => {
  fc.assert(
    fc.property(mons, (x) => {
      const text = formatMonEndpoints(x);
      assert.deepEqual(parseMonEndpoints(text), x);
      assert.equal(formatMonEndpoints(parseMonEndpoints(text)), text);
    }),
  );
});

test("monHostEntry: Rook's PopulateMonHostMembers forms", () => {
  assert.equal(monHostEntry("242.1.255.251", 6789), "[v2:242.1.255.251:3300,v1:242.1.255.251:6789]");
  assert.equal(monHostEntry("242.1.255.251", 3300), "[v2:242.1.255.251:3300]");
  assert.equal(monHostEntry("242.1.255.251", 6790), "[v2:242.1.255.251:3300,v1:242.1.255.251:6790]");
  assert.equal(monHostEntry("fd00::1", 6789), "[v2:[fd00::1]:3300,v1:[fd00::1]:6789]");
  assert.equal(monHostEntry("fd00::1", 3300), "[v2:[fd00::1]:3300]");
});

test("formatMonHost: in-quorum mons, stored order, comma-joined", () => {
  assert.equal(
    formatMonHost(v4, new Set()),
    "[v2:242.1.255.251:3300,v1:242.1.255.251:6789],[v2:242.1.255.252:3300,v1:242.1.255.252:6789]," +
      "[v2:242.1.255.253:3300]",
  );
  assert.equal(
    formatMonHost(v4, new Set(["b"])),
    "[v2:242.1.255.251:3300,v1:242.1.255.251:6789],[v2:242.1.255.253:3300]",
  );
  assert.equal(formatMonHost(v4, new Set(["a", "b", "c"])), "");
  assert.equal(
    formatMonHost(v6, new Set()),
    "[v2:[fd00:242:1::a]:3300,v1:[fd00:242:1::a]:6789],[v2:[fd00::1]:3300]",
  );
});

test("splitMonHost: one element per addrvec, IPv4", () => {
  assert.deepEqual(splitMonHost("[v2:10.0.0.1:3300,v1:10.0.0.1:6789],[v2:10.0.0.2:3300]"), [
    "[v2:10.0.0.1:3300,v1:10.0.0.1:6789]",
    "[v2:10.0.0.2:3300]",
  ]);
  assert.deepEqual(splitMonHost(""), []);
});

test("splitMonHost: one element per addrvec, IPv6 (brackets inside brackets)", () => {
  assert.deepEqual(
    splitMonHost("[v2:[fd00::1]:3300,v1:[fd00::1]:6789],[v2:[fd00::2]:3300],[v2:10.0.0.3:3300]"),
    ["[v2:[fd00::1]:3300,v1:[fd00::1]:6789]", "[v2:[fd00::2]:3300]", "[v2:10.0.0.3:3300]"],
  );
});

test("splitMonHost: plain host:port lists (hand-written mon_host) split on commas", () => {
  assert.deepEqual(splitMonHost("10.0.0.1:6789, 10.0.0.2:6789"), ["10.0.0.1:6789", "10.0.0.2:6789"]);
});

test("property: splitMonHost(formatMonHost(x)) = the entries of x", () => {
  fc.assert(
    fc.property(mons, (x) => {
      assert.deepEqual(
        splitMonHost(formatMonHost(x, new Set())),
        x.map((m) => monHostEntry(m.ip, m.port)),
      );
    }),
  );
});

test("property: mon_host compared as a set ignores Rook's order, and only the order", () => {
  fc.assert(
    fc.property(
      mons.chain((x) => fc.tuple(fc.constant(x), fc.shuffledSubarray(x, { minLength: x.length }))),
      ([x, shuffled]) => {
        const a = splitMonHost(formatMonHost(x, new Set()));
        assert.ok(sameSet(a, splitMonHost(formatMonHost(shuffled, new Set()))));
        if (x.length > 1) assert.ok(!sameSet(a, splitMonHost(formatMonHost(x.slice(1), new Set())))); // one gone
      },
    ),
  );
});

test("sameSet: order and repetition do not count, members do", () => {
  assert.ok(sameSet([], []));
  assert.ok(sameSet(["a", "b"], ["b", "a"]));
  assert.ok(sameSet(["a", "a", "b"], ["b", "a"]));
  assert.ok(!sameSet(["a", "b"], ["a"]));
  assert.ok(!sameSet(["a"], ["a", "b"]));
  assert.ok(!sameSet(["a", "b"], ["a", "c"]));
});

test("parseIdList: outOfQuorum", () => {
  assert.deepEqual(parseIdList(undefined), new Set());
  assert.deepEqual(parseIdList(""), new Set());
  assert.deepEqual(parseIdList("c"), new Set(["c"]));
  assert.deepEqual(parseIdList("c,a"), new Set(["a", "c"]));
});

test("csiMonitor: the mon's endpoint as listed", () => {
  assert.equal(csiMonitor({ id: "a", ip: "10.0.0.1", port: 6789 }), "10.0.0.1:6789");
  assert.equal(csiMonitor({ id: "a", ip: "10.0.0.1", port: 3300 }), "10.0.0.1:3300");
  assert.equal(csiMonitor({ id: "a", ip: "fd00::1", port: 6789 }), "[fd00::1]:6789");
});

interface CsiFixture {
  namespace: string;
  monitors: string[];
  before: string;
  after: string;
}
const csiFixture = parseYaml(
  readFileSync(new URL("../fixtures/rook/csi-config.yaml", import.meta.url), "utf8"),
) as CsiFixture;

test("fixture csi-config.yaml is in Go's encoding (goJson reproduces it byte for byte)", () => {
  assert.equal(goJson(JSON.parse(csiFixture.before)), csiFixture.before);
  assert.equal(goJson(JSON.parse(csiFixture.after)), csiFixture.after);
  assert.match(csiFixture.before, /\\u0026/);
});

test("updateCsiMonitors: every entry of the cluster (clusterID or namespace), others and key order untouched", () => {
  const { namespace, monitors, before, after } = csiFixture;
  assert.equal(updateCsiMonitors(before, namespace, monitors), after);
});

test("updateCsiMonitors: same monitors in another order → undefined (no write)", () => {
  const { namespace, monitors, after } = csiFixture;
  assert.equal(updateCsiMonitors(after, namespace, [...monitors].reverse()), undefined);
  assert.equal(updateCsiMonitors(after, "no-such-cluster", ["1.2.3.4:6789"]), undefined);
  assert.equal(updateCsiMonitors("[]", namespace, monitors), undefined);
});

test("updateCsiMonitors: Rook's single-entry form in rook-ceph-mon-endpoints", () => {
  const tail =
    '"cephFS":{"netNamespaceFilePath":"","subvolumeGroup":"","radosNamespace":"","kernelMountOptions":"",' +
    '"fuseMountOptions":""},"rbd":{"netNamespaceFilePath":"","radosNamespace":"","mirrorDaemonCount":0},' +
    '"nfs":{"netNamespaceFilePath":""},"readAffinity":{"enabled":false,"crushLocationLabels":null},"namespace":""}]';
  const before = `[{"clusterID":"rook-ceph","monitors":["10.96.0.1:6789"],${tail}`;
  assert.equal(
    updateCsiMonitors(before, "rook-ceph", ["242.1.255.251:6789", "[fd00::1]:3300"]),
    `[{"clusterID":"rook-ceph","monitors":["242.1.255.251:6789","[fd00::1]:3300"],${tail}`,
  );
  // The old short form (issue #7769) keeps its shape: no keys are added.
  assert.equal(
    updateCsiMonitors('[{"clusterID":"rook-ceph","monitors":["10.97.34.7:6789"]}]', "rook-ceph", [
      "1.2.3.4:6789",
    ]),
    '[{"clusterID":"rook-ceph","monitors":["1.2.3.4:6789"]}]',
  );
});

test("updateCsiMonitors: missing or null monitors count as none", () => {
  assert.equal(updateCsiMonitors('[{"clusterID":"x","monitors":null}]', "x", []), undefined);
  assert.equal(updateCsiMonitors('[{"clusterID":"x"}]', "x", []), undefined);
  assert.equal(
    updateCsiMonitors('[{"clusterID":"x","monitors":null}]', "x", ["1.2.3.4:6789"]),
    '[{"clusterID":"x","monitors":["1.2.3.4:6789"]}]',
  );
});

test("updateCsiMonitors: not Rook's JSON → throws", () => {
  assert.throws(() => updateCsiMonitors("{}", "x", []), /not a JSON array/);
  assert.throws(() => updateCsiMonitors("qqq", "x", []), SyntaxError);
});

test("property: updateCsiMonitors never writes for a permutation of the current monitors", () => {
  fc.assert(
    fc.property(
      fc
        .uniqueArray(fc.ipV4(), { minLength: 0, maxLength: 6 })
        .chain((ips) => fc.tuple(fc.constant(ips), fc.shuffledSubarray(ips, { minLength: ips.length }))),
      ([current, shuffled]) => {
        const json = goJson([{ clusterID: "ns", monitors: current, namespace: "" }]);
        assert.equal(updateCsiMonitors(json, "ns", shuffled), undefined);
      },
    ),
  );
});

test("goJson: Go's encoding/json escapes", () => {
  assert.equal(goJson({ a: "<&>" }), '{"a":"\\u003c\\u0026\\u003e"}');
  assert.equal(goJson(["\u2028\u2029"]), '["\\u2028\\u2029"]');
  assert.equal(goJson({ k: 'q"\\\n\t' }), '{"k":"q\\"\\\\\\n\\t"}');
  assert.equal(goJson({ n: 0, b: false, z: null, l: [] }), '{"n":0,"b":false,"z":null,"l":[]}');
  assert.equal(goJson("é"), '"é"');
});

test("property: goJson round-trips through JSON.parse and never contains raw < > & U+2028 U+2029", () => {
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const text = goJson(value);
      assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(value)));
      assert.doesNotMatch(text, /[<>&\u2028\u2029]/);
    }),
  );
});
