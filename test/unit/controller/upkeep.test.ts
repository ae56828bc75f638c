import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import fc from "fast-check";
import { parse as parseYaml } from "yaml";
import {
  KEY_CSI,
  KEY_DATA,
  planUpkeep,
  type MonFacts,
  type UpkeepInput,
  type UpkeepPlan,
} from "../../../agent/controller/upkeep.ts";
import {
  formatMonEndpoints,
  formatMonHost,
  goJson,
  type MonEndpoint,
} from "../../../agent/ceph/rook-formats.ts";

interface Scenario {
  description: string;
  namespace: string;
  mons: Record<string, MonFacts>;
  clientExtras?: Record<string, string[]>;
  before: { configMap: Record<string, string>; secret: Record<string, string> };
  after: { configMap: Record<string, string>; secret: Record<string, string> };
  changes: UpkeepPlan["changes"];
  heldBack: UpkeepPlan["heldBack"];
}

const dir = new URL("../fixtures/rook/upkeep/", import.meta.url);
const scenarios = readdirSync(dir)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((f) => ({ file: f, s: parseYaml(readFileSync(new URL(f, dir), "utf8")) as Scenario }));

function inputOf(s: Scenario, state: Scenario["before"]): UpkeepInput {
  return {
    namespace: s.namespace,
    endpoints: state.configMap,
    monHost: state.secret.mon_host,
    mons: new Map(Object.entries(s.mons)),
    ...(s.clientExtras && { clientExtras: new Map(Object.entries(s.clientExtras)) }),
  };
}

/** What the controller does with a plan: a merge patch of some data keys, and mon_host. */
function apply(state: Scenario["before"], plan: UpkeepPlan): Scenario["before"] {
  return {
    configMap: { ...state.configMap, ...plan.configMap },
    secret: plan.monHost === undefined ? state.secret : { ...state.secret, mon_host: plan.monHost },
  };
}

test("fixtures: at least the scenarios the issue asks for are there", () => {
  const names = scenarios.map((x) => x.file);
  for (const want of ["added", "changed", "removed", "msgr2-only", "ipv6", "out-of-quorum", "reordered"])
    assert.ok(names.includes(`${want}.yaml`), want);
});

for (const { file, s } of scenarios) {
  test(`${file}: ${s.description}`, () => {
    const plan = planUpkeep(inputOf(s, s.before));
    // Byte-exact: the whole ConfigMap data and Secret after the writes, unrelated keys included.
    assert.deepEqual(apply(s.before, plan), s.after);
    assert.deepEqual(plan.changes, s.changes);
    assert.deepEqual(plan.heldBack, s.heldBack);
    // Only what differs is written; nothing at all when nothing differs.
    for (const [key, value] of Object.entries(plan.configMap ?? {}))
      assert.notEqual(value, s.before.configMap[key], `needless write of ${key}`);
    if (plan.configMap) assert.ok(Object.keys(plan.configMap).every((k) => k === KEY_DATA || k === KEY_CSI));
    assert.equal(plan.monHost !== undefined, s.before.secret.mon_host !== s.after.secret.mon_host);
  });

  test(`${file}: converged — planning again on the result writes nothing`, () => {
    const again = planUpkeep(inputOf(s, s.after));
    assert.equal(again.configMap, undefined);
    assert.equal(again.monHost, undefined);
    assert.deepEqual(again.changes, []);
    assert.deepEqual(again.heldBack, s.heldBack);
  });
}

const base = (data: string, mons: Record<string, MonFacts>, monHost?: string): UpkeepInput => ({
  namespace: "rook-ceph",
  endpoints: { [KEY_DATA]: data, maxMonId: "0" },
  monHost,
  mons: new Map(Object.entries(mons)),
});

test("the monmap wins over the pin: a pin that differs is held back as needs-migration", () => {
  const plan = planUpkeep(
    base("a=10.96.0.11:6789", {
      a: { pinned: "242.0.0.1", clusterIP: "10.96.0.11", advertised: "10.96.0.11" },
    }),
  );
  assert.equal(plan.configMap, undefined);
  assert.deepEqual(plan.heldBack, [
    { id: "a", current: "10.96.0.11", pinned: "242.0.0.1", reason: "needs-migration" },
  ]);
});

test("the monmap address is written even without a pin, and even over a pin-shaped listing", () => {
  const plan = planUpkeep(base("a=242.0.0.9:6789", { a: { advertised: "242.0.0.1" } }));
  assert.deepEqual(plan.configMap, { [KEY_DATA]: "a=242.0.0.1:6789" });
  assert.deepEqual(plan.changes, [{ id: "a", from: "242.0.0.9", to: "242.0.0.1" }]);
  assert.deepEqual(plan.heldBack, []);
});

test("without the monmap: a listed ClusterIP is unconfirmed, any other listed address takes the pin", () => {
  const facts = { pinned: "242.0.0.1", clusterIP: "10.96.0.11" };
  const onClusterIP = planUpkeep(base("a=10.96.0.11:6789", { a: facts }));
  assert.equal(onClusterIP.configMap, undefined);
  assert.equal(onClusterIP.heldBack[0]?.reason, "unconfirmed");
  const elsewhere = planUpkeep(base("a=242.0.0.7:6789", { a: facts }));
  assert.deepEqual(elsewhere.configMap, { [KEY_DATA]: "a=242.0.0.1:6789" });
  assert.deepEqual(elsewhere.heldBack, []);
  // No ClusterIP known: nothing to confuse the listing with.
  assert.deepEqual(planUpkeep(base("a=10.96.0.11:6789", { a: { pinned: "242.0.0.1" } })).configMap, {
    [KEY_DATA]: "a=242.0.0.1:6789",
  });
});

test("mons without facts, or without a pin or monmap entry, are left as Rook listed them", () => {
  const data = "a=10.0.0.1:6789,b=10.0.0.2:3300";
  assert.equal(planUpkeep(base(data, {})).configMap, undefined);
  assert.equal(planUpkeep(base(data, { a: {}, b: { clusterIP: "10.96.0.2" } })).configMap, undefined);
  assert.equal(planUpkeep(base(data, { a: { pinned: "10.0.0.1" } })).configMap, undefined);
});

test("the port of each mon is kept (msgr2-only stays 3300, legacy 6790 stays)", () => {
  const plan = planUpkeep(
    base("a=10.0.0.1:3300,b=10.0.0.2:6790", {
      a: { advertised: "242.0.0.1" },
      b: { advertised: "242.0.0.2" },
    }),
  );
  assert.equal(plan.configMap?.[KEY_DATA], "a=242.0.0.1:3300,b=242.0.0.2:6790");
});

test("a missing mon_host key or csi key is not created", () => {
  const plan = planUpkeep(base("a=10.0.0.1:6789", { a: { advertised: "242.0.0.1" } }));
  assert.equal(plan.monHost, undefined);
  assert.deepEqual(Object.keys(plan.configMap ?? {}), [KEY_DATA]);
});

test("an empty mon_host is filled in", () => {
  const plan = planUpkeep(base("a=242.0.0.1:6789", { a: { advertised: "242.0.0.1" } }, ""));
  assert.equal(plan.configMap, undefined);
  assert.equal(plan.monHost, "[v2:242.0.0.1:3300,v1:242.0.0.1:6789]");
});

test("no mons listed: nothing to write", () => {
  const plan = planUpkeep(base("", {}, ""));
  assert.deepEqual(plan, { configMap: undefined, monHost: undefined, changes: [], heldBack: [] });
});

test("mon_host differing only in an IPv6 mon's msgr1 port is rewritten (addrvecs compared whole)", () => {
  const input = base(
    "a=[fd00::a]:6789,b=[fd00::b]:6790",
    {},
    "[v2:[fd00::a]:3300,v1:[fd00::a]:6790],[v2:[fd00::b]:3300,v1:[fd00::b]:6789]",
  );
  assert.equal(
    planUpkeep(input).monHost,
    "[v2:[fd00::a]:3300,v1:[fd00::a]:6789],[v2:[fd00::b]:3300,v1:[fd00::b]:6790]",
  );
});

test("a stale duplicate addrvec in mon_host is rewritten", () => {
  const input = base("a=[fd00::a]:6789", {}, "[v2:[fd00::a]:3300,v1:[fd00::a]:6789],[v2:[fd00::a]:3300]");
  assert.equal(planUpkeep(input).monHost, "[v2:[fd00::a]:3300,v1:[fd00::a]:6789]");
});

test("clientExtras: the other address follows each moving mon in CSI and mon_host, never in data", () => {
  const input: UpkeepInput = {
    ...base("a=10.96.0.11:6789,b=242.0.0.2:3300", {}, ""),
    endpoints: {
      [KEY_DATA]: "a=10.96.0.11:6789,b=242.0.0.2:3300",
      [KEY_CSI]: '[{"clusterID":"rook-ceph","monitors":[],"namespace":""}]',
    },
    clientExtras: new Map([
      ["a", ["10.96.0.11", "242.0.0.1"]], // old and new: the listed one is not repeated
      ["b", ["242.0.0.2", "242.0.0.2"]], // same as listed: no duplicate
      ["zz", ["242.0.0.26"]], // not a listed mon: ignored
    ]),
  };
  const plan = planUpkeep(input);
  assert.deepEqual(plan.configMap, {
    [KEY_CSI]:
      '[{"clusterID":"rook-ceph","monitors":["10.96.0.11:6789","242.0.0.1:6789","242.0.0.2:3300"],"namespace":""}]',
  });
  assert.equal(
    plan.monHost,
    "[v2:10.96.0.11:3300,v1:10.96.0.11:6789],[v2:242.0.0.1:3300,v1:242.0.0.1:6789],[v2:242.0.0.2:3300]",
  );
});

test("unparseable data is an error, not a guess", () => {
  assert.throws(() => planUpkeep(base("a=10.0.0.1", {})), /not <id>=<ip>:<port>/);
});

// Property: with facts that agree with what is stored, no order Rook may choose causes a write.
const monList = fc
  .uniqueArray(
    fc.record({
      id: fc.stringMatching(/^[a-z]{1,2}$/),
      ip: fc.oneof(fc.ipV4(), fc.ipV6()),
      port: fc.constantFrom(6789, 3300),
    }),
    { selector: (m) => m.id, minLength: 1, maxLength: 6 },
  )
  .map((ms) => ms.map((m): MonEndpoint => ({ ...m })));
const permutation = <T>(xs: readonly T[]) => fc.shuffledSubarray([...xs], { minLength: xs.length });

test("property: Rook's random order in data, CSI monitors, mon_host and outOfQuorum never causes a write", () => {
  fc.assert(
    fc.property(
      monList.chain((ms) =>
        fc.record({
          ms: fc.constant(ms),
          dataOrder: permutation(ms),
          csiOrder: permutation(ms),
          hostOrder: permutation(ms),
          out: fc.subarray(ms.map((m) => m.id)),
          pinned: fc.boolean(),
        }),
      ),
      ({ ms, dataOrder, csiOrder, hostOrder, out, pinned }) => {
        const outOfQuorum = new Set(out);
        const input: UpkeepInput = {
          namespace: "ns",
          endpoints: {
            [KEY_DATA]: formatMonEndpoints(dataOrder),
            outOfQuorum: [...out].reverse().join(","),
            [KEY_CSI]: goJson([
              { clusterID: "ns", monitors: csiOrder.map((m) => csiAddr(m)), namespace: "" },
            ]),
          },
          monHost: formatMonHost(hostOrder, outOfQuorum),
          mons: new Map(ms.map((m) => [m.id, pinned ? { pinned: m.ip, advertised: m.ip } : {}])),
        };
        const plan = planUpkeep(input);
        assert.equal(plan.configMap, undefined);
        assert.equal(plan.monHost, undefined);
      },
    ),
  );
});

function csiAddr(m: MonEndpoint): string {
  return m.ip.includes(":") ? `[${m.ip}]:${m.port}` : `${m.ip}:${m.port}`;
}

test("property: a plan applied converges — planning again writes nothing", () => {
  fc.assert(
    fc.property(
      monList.chain((ms) =>
        fc.record({
          ms: fc.constant(ms),
          moved: fc.array(fc.option(fc.ipV4(), { nil: undefined }), {
            minLength: ms.length,
            maxLength: ms.length,
          }),
          hostOrder: permutation(ms),
        }),
      ),
      ({ ms, moved, hostOrder }) => {
        const mons = new Map(ms.map((m, i) => [m.id, { advertised: moved[i] ?? m.ip }]));
        const endpoints = {
          [KEY_DATA]: formatMonEndpoints(ms),
          [KEY_CSI]: goJson([{ clusterID: "ns", monitors: ms.map(csiAddr), namespace: "" }]),
        };
        const first = planUpkeep({
          namespace: "ns",
          endpoints,
          monHost: formatMonHost(hostOrder, new Set()),
          mons,
        });
        const second = planUpkeep({
          namespace: "ns",
          endpoints: { ...endpoints, ...first.configMap },
          monHost: first.monHost ?? formatMonHost(hostOrder, new Set()),
          mons,
        });
        assert.equal(second.configMap, undefined);
        assert.equal(second.monHost, undefined);
        assert.equal(first.changes.length, ms.filter((m, i) => (moved[i] ?? m.ip) !== m.ip).length);
      },
    ),
  );
});
