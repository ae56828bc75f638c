import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { evaluateExport, parseConditions, type ExportVerdict } from "../../../agent/mcs/conditions.ts";

type Raw = Record<string, unknown>;
const c = (type: string, status: string, reason?: string, message?: string): Raw => {
  const cond: Raw = { type, status, lastTransitionTime: "2025-01-01T00:00:00Z" };
  if (reason !== undefined) cond.reason = reason;
  if (message !== undefined) cond.message = message;
  return cond;
};

interface Case {
  name: string;
  conditions: unknown;
  state: ExportVerdict["state"];
  reason?: string;
  message?: string | RegExp;
  implementation?: ExportVerdict["implementation"];
  warnings?: number;
  hint?: RegExp;
}

const BROKER_SYNCED = "Service was successfully synced to the broker";
const AWAIT_AGG = "ServiceImport created - awaiting aggregation on the broker";
const EXPORTED = "Service was successfully exported to the broker";

const lighthouse: Case[] = [
  // <= 0.12: Valid entries appended, the last one wins.
  {
    name: "lh<=0.12 first entry: awaiting sync",
    conditions: [c("Valid", "False", "AwaitingSync", "Awaiting sync of the ServiceImport to the broker")],
    state: "waiting",
    reason: "AwaitingSync",
    message: "Awaiting sync of the ServiceImport to the broker",
    implementation: "lighthouse<=0.13",
  },
  {
    name: "lh<=0.12 appended: last Valid=True wins",
    conditions: [
      c("Valid", "False", "AwaitingSync", "Awaiting sync of the ServiceImport to the broker"),
      c("Valid", "True", "", BROKER_SYNCED),
    ],
    state: "ready",
    reason: "",
    message: BROKER_SYNCED,
    implementation: "lighthouse<=0.12",
  },
  {
    name: "lh<=0.12 appended: absent reason, last wins",
    conditions: [
      c("Valid", "False", "AwaitingSync", "Awaiting sync of the ServiceImport to the broker"),
      c("Valid", "True", undefined, BROKER_SYNCED),
    ],
    state: "ready",
    implementation: "lighthouse<=0.12",
  },
  {
    name: "lh<=0.12 appended: a later False wins over an earlier True",
    conditions: [c("Valid", "True", "", BROKER_SYNCED), c("Valid", "False", "AwaitingSync", "again")],
    state: "waiting",
    reason: "AwaitingSync",
    message: "again",
    implementation: "lighthouse<=0.12",
  },
  {
    name: "lh 0.13: a single Valid=True",
    conditions: [c("Valid", "True", "", BROKER_SYNCED)],
    state: "ready",
    implementation: "lighthouse<=0.13",
  },
  {
    name: "lh 0.14: Synced=False AwaitingSync",
    conditions: [
      c("Valid", "True", "", ""),
      c("Synced", "False", "AwaitingSync", "ServiceImport awaiting sync to the broker"),
    ],
    state: "waiting",
    reason: "AwaitingSync",
    implementation: "lighthouse-0.14/0.15",
  },
  {
    name: "lh 0.14: Synced=True",
    conditions: [
      c("Valid", "True", "", ""),
      c("Synced", "True", "", "ServiceImport was successfully synced to the broker"),
    ],
    state: "ready",
    message: "ServiceImport was successfully synced to the broker",
    implementation: "lighthouse-0.14/0.15",
  },
  {
    name: "lh 0.15: Synced=False AwaitingExport",
    conditions: [c("Valid", "True", "", ""), c("Synced", "False", "AwaitingExport", "awaiting export")],
    state: "waiting",
    reason: "AwaitingExport",
    implementation: "lighthouse-0.14/0.15",
  },
  {
    name: "lh 0.15: Synced=True exported",
    conditions: [c("Valid", "True", "", ""), c("Synced", "True", "", EXPORTED)],
    state: "ready",
    message: EXPORTED,
    implementation: "lighthouse-0.14/0.15",
  },
  {
    name: "lh 0.16-0.20: Ready=False AwaitingExport",
    conditions: [c("Valid", "True", "", ""), c("Ready", "False", "AwaitingExport", AWAIT_AGG)],
    state: "waiting",
    reason: "AwaitingExport",
    message: AWAIT_AGG,
    implementation: "lighthouse-0.16..0.20",
  },
  {
    name: "lh 0.16-0.20: Ready=True with empty reason",
    conditions: [c("Valid", "True", "", ""), c("Ready", "True", "", EXPORTED)],
    state: "ready",
    reason: "",
    message: EXPORTED,
    implementation: "lighthouse-0.16..0.20",
  },
  {
    name: "lh 0.16-0.20: Ready=False ExportFailed is failing",
    conditions: [
      c("Valid", "True", "", ""),
      c("Ready", "False", "ExportFailed", "Unable to export: broker unreachable"),
    ],
    state: "failing",
    reason: "ExportFailed",
    message: "Unable to export: broker unreachable",
    implementation: "lighthouse-0.16..0.20",
    hint: /broker/,
  },
  {
    name: "lh 0.16-0.20: Ready=False NoServiceImport",
    conditions: [
      c("Valid", "True", "", ""),
      c("Ready", "False", "NoServiceImport", "ServiceImport was deleted"),
    ],
    state: "waiting",
    reason: "NoServiceImport",
    implementation: "lighthouse-0.16..0.20",
  },
  {
    name: "lh >=0.21: Ready=False Pending",
    conditions: [c("Valid", "True", "Valid", "Service is valid"), c("Ready", "False", "Pending", AWAIT_AGG)],
    state: "waiting",
    reason: "Pending",
    implementation: "lighthouse>=0.21",
  },
  {
    name: "lh >=0.21: Ready=True Exported",
    conditions: [c("Valid", "True", "Valid", "Service is valid"), c("Ready", "True", "Exported", EXPORTED)],
    state: "ready",
    reason: "Exported",
    message: EXPORTED,
    implementation: "lighthouse>=0.21",
  },
  {
    name: "lh >=0.21: Ready=False Failed is failing",
    conditions: [c("Valid", "True", "Valid", "ok"), c("Ready", "False", "Failed", "Unable to export: x")],
    state: "failing",
    reason: "Failed",
    implementation: "lighthouse>=0.21",
  },
  {
    name: "globalnet: no global IP yet",
    conditions: [c("Valid", "False", "ServiceGlobalIPUnavailable", "Service doesn't have a global IP yet")],
    state: "waiting",
    reason: "ServiceGlobalIPUnavailable",
    message: "Service doesn't have a global IP yet",
    implementation: "lighthouse",
    warnings: 0,
  },
  {
    name: "globalnet: pool exhausted is permanent",
    conditions: [c("Valid", "False", "IPPoolAllocationFailed", "Unable to obtain global IP: pool exhausted")],
    state: "failed",
    reason: "IPPoolAllocationFailed",
    message: "Unable to obtain global IP: pool exhausted",
    implementation: "lighthouse",
    hint: /GlobalCIDR/,
  },
  {
    name: "globalnet: internal Service creation failed is transient",
    conditions: [c("Valid", "False", "InternalServiceCreationFailed", "Unable to obtain global IP: x")],
    state: "waiting",
    warnings: 0,
  },
  ...(["ServiceUnavailable", "NoService"] as const).map((reason): Case => ({
    name: `lh: Valid=False ${reason} (Service may not exist yet)`,
    conditions: [c("Valid", "False", reason, "Service to be exported doesn't exist")],
    state: "waiting",
    reason,
    warnings: 0,
  })),
  ...(
    ["UnsupportedServiceType", "InvalidServiceType", "RestrictedNamespace", "UnsupportedIPFamily"] as const
  ).map((reason): Case => ({
    name: `lh: Valid=False ${reason} is permanent`,
    conditions: [c("Valid", "False", reason, `rejected: ${reason}`)],
    state: "failed",
    reason,
    message: `rejected: ${reason}`,
    hint: /./,
  })),
  {
    name: "lh: Valid=Unknown ServiceRetrievalFailed",
    conditions: [c("Valid", "Unknown", "ServiceRetrievalFailed", "Error retrieving the Service: timeout")],
    state: "waiting",
    reason: "ServiceRetrievalFailed",
    message: "Error retrieving the Service: timeout",
  },
];

const conflicts: Case[] = [
  {
    name: "port conflict: ready, logged loudly",
    conditions: [
      c("Valid", "True", "", ""),
      c("Ready", "True", "", EXPORTED),
      c("Conflict", "True", "ConflictingPorts", "ports differ"),
    ],
    state: "ready",
    warnings: 1,
  },
  {
    name: "old type conflict: permanent",
    conditions: [
      c("Valid", "True", "", ""),
      c("Ready", "False", "ExportFailed", "irresolvable conflict"),
      c("Conflict", "True", "ConflictingType", "The service type differs"),
    ],
    state: "failed",
    reason: "ConflictingType",
    message: "The service type differs",
    hint: /type/,
  },
  {
    name: "comma-joined reasons containing TypeConflict: permanent",
    conditions: [c("Valid", "True", "Valid", ""), c("Conflict", "True", "PortConflict,TypeConflict", "a\nb")],
    state: "failed",
    reason: "PortConflict,TypeConflict",
  },
  {
    name: "comma-joined non-type conflicts: warning",
    conditions: [
      c("Valid", "True", "Valid", "ok"),
      c("Conflict", "True", "PortConflict,SessionAffinityConflict", "x"),
    ],
    state: "ready",
    warnings: 1,
  },
  {
    name: "Conflict=False: no warning",
    conditions: [c("Valid", "True", "Valid", "ok"), c("Conflict", "False", "NoConflicts", "none")],
    state: "ready",
    warnings: 0,
  },
];

const others: Case[] = [
  {
    name: "cilium: valid and ready",
    conditions: [
      c("Valid", "True", "Valid", "ServiceExport is valid"),
      c("Ready", "True", "Ready", "ServiceExport is ready"),
      c("Conflict", "False", "NoConflicts", "ServiceExport has no conflicts"),
    ],
    state: "ready",
    reason: "Ready",
    message: "ServiceExport is ready",
    implementation: "cilium",
    warnings: 0,
  },
  {
    name: "cilium: no Service yet",
    conditions: [
      c("Valid", "False", "NoService", "Service not found"),
      c("Ready", "False", "Pending", "ServiceExport is not valid"),
    ],
    state: "waiting",
    reason: "NoService",
    implementation: "cilium",
  },
  {
    name: "cilium: invalid type",
    conditions: [
      c("Valid", "False", "InvalidServiceType", "ExternalName"),
      c("Ready", "False", "Pending", "ServiceExport is not valid"),
    ],
    state: "failed",
    reason: "InvalidServiceType",
    implementation: "cilium",
  },
  {
    name: "antrea: exported",
    conditions: [c("Valid", "True", "Succeed", "The Service is exported successfully")],
    state: "ready",
    implementation: "antrea",
  },
  {
    name: "antrea: no endpoints yet (deadlock hint)",
    conditions: [c("Valid", "False", "ServiceWithoutEndpoints", "Service has no Endpoints")],
    state: "waiting",
    reason: "ServiceWithoutEndpoints",
    implementation: "antrea",
    hint: /publishNotReadyAddresses/,
  },
  {
    name: "antrea: not found",
    conditions: [c("Valid", "False", "ServiceNotFound", "x")],
    state: "waiting",
    implementation: "antrea",
  },
  ...(["ServiceTypeNotSupported", "ServiceNoClusterIP", "ImportedService"] as const).map((reason): Case => ({
    name: `antrea: ${reason} is permanent`,
    conditions: [c("Valid", "False", reason, "x")],
    state: "failed",
    reason,
    implementation: "antrea",
  })),
  {
    name: "upstream 2025-07: Accepted + Exported",
    conditions: [c("Accepted", "True", "Accepted", "ok"), c("Exported", "True", "Exported", "done")],
    state: "ready",
    message: "done",
    implementation: "mcs-api-2025-07",
  },
  {
    name: "upstream 2025-07: Exported pending",
    conditions: [c("Accepted", "True", "Accepted", "ok"), c("Exported", "False", "Pending", "later")],
    state: "waiting",
    implementation: "mcs-api-2025-07",
  },
  {
    name: "upstream 2025-07: Conflicted type conflict",
    conditions: [c("Accepted", "True", "Accepted", "ok"), c("Conflicted", "True", "TypeConflict", "types")],
    state: "failed",
    implementation: "mcs-api-2025-07",
  },
  {
    name: "upstream 2025-07: Accepted=False",
    conditions: [c("Accepted", "False", "InvalidServiceType", "x")],
    state: "failed",
  },
  { name: "no conditions yet", conditions: [], state: "waiting", reason: "NoConditions" },
  { name: "no status yet", conditions: undefined, state: "waiting", reason: "NoConditions" },
  { name: "null conditions", conditions: null, state: "waiting", reason: "NoConditions" },
  {
    name: "Ready without Valid is not enough",
    conditions: [c("Ready", "True", "Ready", "ok")],
    state: "waiting",
    reason: "NotValidated",
    message: /Ready=True/,
  },
  {
    name: "unknown Valid=False reason: waiting, verbatim message, warned",
    conditions: [c("Valid", "False", "QuotaExceeded", "Too many exports in this namespace")],
    state: "waiting",
    reason: "QuotaExceeded",
    message: "Too many exports in this namespace",
    warnings: 1,
  },
  {
    name: "unknown Ready=False reason: waiting, warned",
    conditions: [c("Valid", "True", "Valid", ""), c("Ready", "False", "Throttled", "slow down")],
    state: "waiting",
    reason: "Throttled",
    warnings: 1,
  },
  {
    name: "Valid=True, Ready=Unknown",
    conditions: [c("Valid", "True"), c("Ready", "Unknown", "Pending", "")],
    state: "waiting",
  },
  {
    name: "empty message: described, not blank",
    conditions: [c("Valid", "False", "AwaitingSync", "")],
    state: "waiting",
    message: "Valid=False (AwaitingSync) without a message",
  },
  {
    name: "unknown types are ignored",
    conditions: [c("Valid", "True"), c("Healthy", "False", "X", "y")],
    state: "ready",
  },
  {
    name: "the most severe finding wins",
    conditions: [
      c("Valid", "False", "ServiceGlobalIPUnavailable", "no ip"),
      c("Ready", "False", "ExportFailed", "boom"),
    ],
    state: "failing",
    reason: "ExportFailed",
  },
];

for (const tc of [...lighthouse, ...conflicts, ...others]) {
  test(`evaluateExport: ${tc.name}`, () => {
    const v = evaluateExport(tc.conditions);
    assert.equal(v.state, tc.state);
    if (tc.reason !== undefined) assert.equal(v.reason, tc.reason);
    if (typeof tc.message === "string") assert.equal(v.message, tc.message);
    if (tc.message instanceof RegExp) assert.match(v.message, tc.message);
    if (tc.implementation !== undefined) assert.equal(v.implementation, tc.implementation);
    if (tc.warnings !== undefined) assert.equal(v.warnings.length, tc.warnings, v.warnings.join("\n"));
    if (tc.hint !== undefined) assert.match(v.hint ?? "", tc.hint);
    assertWellFormed(v);
  });
}

test("evaluateExport: a conflict warning carries the controller's message", () => {
  const v = evaluateExport([
    c("Valid", "True"),
    c("Conflict", "True", "PortConflict", "port 6789 differs from cluster east"),
  ]);
  assert.match(v.warnings[0] ?? "", /PortConflict: port 6789 differs from cluster east/);
});

test("evaluateExport: the verdict keeps the deciding condition and the effective list", () => {
  const v = evaluateExport([
    c("Valid", "False", "AwaitingSync", "a"),
    c("Valid", "True", "", "b"),
    c("Ready", "True", "", "c"),
  ]);
  assert.equal(v.conditions.length, 2);
  assert.deepEqual(
    v.conditions.map((x) => x.message),
    ["b", "c"],
  );
  assert.equal(v.condition?.type, "Ready");
});

const malformed: [string, unknown, RegExp][] = [
  ["an object", { type: "Valid" }, /status\.conditions is an object, not a list/],
  ["a string", "Valid", /not a list/],
  ["a number", 5, /number 5/],
  ["a null entry", [null], /condition #1 is null, not an object/],
  ["a list entry", [c("Valid", "True"), []], /condition #2 is a list/],
  ["no type", [{ status: "True" }], /type missing/],
  ["empty type", [c("", "True")], /type "", expected a non-empty string/],
  ["numeric type", [{ type: 1, status: "True" }], /type number 1/],
  ["lowercase status", [c("Valid", "true")], /\(Valid\) has status "true"/],
  ["missing status", [{ type: "Valid" }], /status missing/],
  ["numeric reason", [{ type: "Valid", status: "True", reason: 3 }], /reason number 3/],
  ["object message", [{ type: "Valid", status: "True", message: {} }], /message an object/],
];

for (const [name, input, problem] of malformed) {
  test(`evaluateExport: malformed input (${name}) fails clearly`, () => {
    const v = evaluateExport(input);
    assert.equal(v.state, "failed");
    assert.equal(v.reason, "MalformedConditions");
    assert.match(v.message, /the MCS controller wrote malformed ServiceExport status\.conditions/);
    assert.match(v.message, problem);
    assertWellFormed(v);
  });
}

test("evaluateExport: hostile inputs do not throw", () => {
  const throwing = new Proxy([], {
    get() {
      throw new Error("trap");
    },
  });
  const { proxy, revoke } = Proxy.revocable([], {});
  revoke();
  const getter = [
    Object.defineProperty({ status: "True" }, "type", {
      get() {
        throw new Error("getter");
      },
      enumerable: true,
    }),
  ];
  for (const input of [throwing, proxy, getter, [Symbol("x")], [10n], [() => 1]]) {
    const v = evaluateExport(input);
    assert.equal(v.state, "failed");
    assert.equal(v.reason, "MalformedConditions");
  }
});

const STATES = new Set(["ready", "waiting", "failing", "failed"]);
const IMPLEMENTATIONS = new Set([
  "lighthouse<=0.12",
  "lighthouse<=0.13",
  "lighthouse-0.14/0.15",
  "lighthouse-0.16..0.20",
  "lighthouse>=0.21",
  "lighthouse",
  "cilium",
  "antrea",
  "mcs-api-2025-07",
  "gke",
  "unknown",
]);

function assertWellFormed(v: ExportVerdict): void {
  assert.ok(STATES.has(v.state), `state ${v.state}`);
  assert.equal(typeof v.reason, "string");
  assert.equal(typeof v.message, "string");
  assert.ok(v.message.length > 0, "message is never blank");
  assert.ok(Array.isArray(v.warnings) && v.warnings.every((w) => typeof w === "string"));
  assert.ok(IMPLEMENTATIONS.has(v.implementation), v.implementation);
  assert.ok(Array.isArray(v.conditions));
  if (v.hint !== undefined) assert.equal(typeof v.hint, "string");
  if (v.state === "ready")
    assert.ok(v.conditions.some((x) => x.status === "True" && /^(Valid|Accepted)$/.test(x.type)));
}

test("fuzz: evaluateExport never throws and is well-formed for arbitrary JSON", () => {
  fc.assert(
    fc.property(fc.jsonValue(), (input) => {
      assertWellFormed(evaluateExport(input));
    }),
    { numRuns: 2000 },
  );
});

test("fuzz: evaluateExport never throws for arbitrary values", () => {
  fc.assert(
    fc.property(
      fc.anything({
        withBigInt: true,
        withMap: true,
        withSet: true,
        withTypedArray: true,
        withNullPrototype: true,
      }),
      (input) => {
        assertWellFormed(evaluateExport(input));
        assertWellFormed(evaluateExport([input]));
      },
    ),
    { numRuns: 1000 },
  );
});

const TYPES = ["Valid", "Ready", "Synced", "Exported", "Accepted", "Conflict", "Conflicted", "Other"];
const REASONS = [
  "",
  "Valid",
  "Ready",
  "Exported",
  "Pending",
  "Failed",
  "ExportFailed",
  "AwaitingSync",
  "AwaitingExport",
  "ServiceGlobalIPUnavailable",
  "IPPoolAllocationFailed",
  "InvalidServiceType",
  "TypeConflict",
  "PortConflict",
  "PortConflict,TypeConflict",
  "Weird",
];
const condition = fc.record(
  {
    type: fc.constantFrom(...TYPES),
    status: fc.constantFrom("True", "False", "Unknown"),
    reason: fc.constantFrom(...REASONS),
    message: fc.oneof(fc.constant(""), fc.string({ maxLength: 20 })),
  },
  { requiredKeys: ["type", "status"] },
);

test("property: well-formed conditions are never malformed, messages stay verbatim, last entry wins", () => {
  fc.assert(
    fc.property(fc.array(condition, { maxLength: 8 }), (list) => {
      const v = evaluateExport(list);
      assertWellFormed(v);
      assert.notEqual(v.reason, "MalformedConditions");
      if (v.condition !== undefined && v.condition.message !== "")
        assert.equal(v.message, v.condition.message);
      if (v.condition !== undefined) assert.equal(v.reason, v.condition.reason);
      const parsed = parseConditions(list);
      assert.ok(typeof parsed !== "string");
      const lastOnly = parsed.conditions;
      const deduped = evaluateExport(lastOnly);
      assert.equal(deduped.state, v.state);
      assert.equal(deduped.reason, v.reason);
      assert.equal(deduped.message, v.message);
    }),
    { numRuns: 3000 },
  );
});

test("evaluateExport: on equal severity Valid speaks before Ready, whatever the order", () => {
  const v = evaluateExport([
    c("Ready", "False", "Pending", "later"),
    c("Valid", "False", "ServiceGlobalIPUnavailable", "no ip"),
  ]);
  assert.equal(v.reason, "ServiceGlobalIPUnavailable");
  assert.equal(v.message, "no ip");
});
