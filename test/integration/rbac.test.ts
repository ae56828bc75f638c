// The shipped init Role (manifests/base/init-role.yaml) is minimal: for every verb of every rule, a run
// that works with the full Role breaks when that one verb is taken away. The agent runs as a real
// process with the ServiceAccount's token; each removal is confirmed by a SubjectAccessReview first.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  AuthorizationV1Api,
  CustomObjectsApi,
  EventsV1Api,
  RbacAuthorizationV1Api,
  Watch,
  type V1PolicyRule,
} from "@kubernetes/client-node";
import {
  MON,
  OSD,
  initRole,
  lastLog,
  startScenario,
  type AgentRun,
  type Daemon,
  withScenario,
  exportRef,
  type Scenario,
  type ScenarioOptions,
} from "../harness/scenario.ts";

const SA = "ceph-mcs-agent-init";
const GLOBALNET = { profile: "lighthouse-0.21-globalnet" as const, timeScale: 0.05 };
const MCS_GROUP = "multicluster.x-k8s.io";

/**
 * The run a verb is needed by: env carries everything; the agent reads the pod's labels; it lists the
 * CephClusters; or the export's watch gets 410 Gone and the agent re-reads the export ("relist").
 */
type RunKind = "env" | "labels" | "list" | "relist";
const RUN_ENV: Record<RunKind, Record<string, string>> = {
  env: {},
  labels: { CEPH_MCS_DAEMON_TYPE: "", CEPH_MCS_DAEMON_ID: "" },
  list: { CEPH_MCS_CEPHCLUSTER: "" },
  relist: { CEPH_MCS_DEADLINE_SECONDS: "45" },
};

interface Permission {
  group: string;
  resource: string;
  verb: string;
}

/**
 * How the run breaks without the verb: `forbidden` = fails naming the verb and resource; `deadline` =
 * waits in vain until its deadline (exit 3); `silent` = succeeds but records no Event.
 */
type Breaks = "forbidden" | "deadline" | "silent";

interface VerbCase extends Permission {
  run: RunKind;
  breaks: Breaks;
}

const CASES: VerbCase[] = (
  [
    ["ceph.rook.io", "cephclusters", "get", "env", "forbidden"],
    ["ceph.rook.io", "cephclusters", "list", "list", "forbidden"],
    ["", "pods", "get", "labels", "forbidden"],
    // Server-side apply of an object that does not exist yet is authorized as create, too.
    ["", "services", "create", "env", "forbidden"],
    ["", "services", "patch", "env", "forbidden"],
    [MCS_GROUP, "serviceexports", "create", "env", "forbidden"],
    [MCS_GROUP, "serviceexports", "patch", "env", "forbidden"],
    // Only the re-read after a 410 Gone (watch.ts relist) gets the export: see proveRelistNeeded.
    [MCS_GROUP, "serviceexports", "get", "relist", "forbidden"],
    // A refused watch is refused again: the run fails at once, naming the watch.
    [MCS_GROUP, "serviceexports", "watch", "env", "forbidden"],
    [MCS_GROUP, "serviceimports", "get", "env", "forbidden"],
    ["submariner.io", "globalingressips", "get", "env", "forbidden"],
    ["discovery.k8s.io", "endpointslices", "list", "env", "forbidden"],
    // emitEvent swallows errors: the proof is an Event with the full Role and none without the verb.
    ["events.k8s.io", "events", "create", "env", "silent"],
  ] as const
).map(([group, resource, verb, run, breaks]) => ({
  group,
  resource,
  verb,
  run,
  breaks,
}));

const key = (p: Permission): string => `${p.group || "core"}/${p.resource}/${p.verb}`;

function assertWorks(run: AgentRun): void {
  assert.equal(run.code, 0, lastLog(run));
  assert.ok(run.publicAddr, "public-addr written");
  assert.equal(run.result?.globalIP, run.publicAddr);
}

function assertForbidden(run: AgentRun, p: Permission): void {
  assert.notEqual(run.code, 0, lastLog(run));
  assert.equal(run.publicAddr, undefined, "no public-addr may be written");
  const missing = `cannot ${p.verb} resource "${p.resource}" in API group "${p.group}"`;
  const message = run.terminationMessage ?? "";
  assert.ok(message.includes(missing), `names ${missing}: ${run.terminationMessage}`);
}

async function allowed(s: Scenario, p: Permission): Promise<boolean> {
  const review = await s.cp
    .admin()
    .makeApiClient(AuthorizationV1Api)
    .createSubjectAccessReview({
      body: {
        spec: {
          user: `system:serviceaccount:${s.ns}:${SA}`,
          resourceAttributes: { namespace: s.ns, group: p.group, resource: p.resource, verb: p.verb },
        },
      },
    });
  return review.status?.allowed === true;
}

/** Polls a SubjectAccessReview until it answers `want` (RBAC is served from an informer cache). */
async function untilAllowed(s: Scenario, p: Permission, want: boolean): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await allowed(s, p)) === want) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${key(p)} is still ${want ? "denied" : "allowed"}`);
}

function withoutVerb(rules: V1PolicyRule[], p: Permission): V1PolicyRule[] {
  return rules
    .map((r) =>
      r.resources?.includes(p.resource) && r.apiGroups?.includes(p.group)
        ? { apiGroups: r.apiGroups, resources: r.resources, verbs: r.verbs.filter((v) => v !== p.verb) }
        : r,
    )
    .filter((r) => r.verbs.length > 0);
}

/** Takes one verb away from the scenario's Role; returns once the apiserver denies it, and only it. */
async function dropVerb(s: Scenario, p: Permission): Promise<void> {
  const rbac = s.cp.admin().makeApiClient(RbacAuthorizationV1Api);
  const role = await rbac.readNamespacedRole({ namespace: s.ns, name: SA });
  const full = role.rules ?? [];
  await untilAllowed(s, p, true);
  role.rules = withoutVerb(full, p);
  const count = (rules: V1PolicyRule[]): number => rules.flatMap((r) => r.verbs).length;
  assert.equal(count(role.rules), count(full) - 1, "exactly one verb removed");
  await rbac.replaceNamespacedRole({ namespace: s.ns, name: SA, body: role });
  await untilAllowed(s, p, false);
  for (const other of CASES.filter((c) => key(c) !== key(p))) await untilAllowed(s, other, true);
}

async function podEvents(s: Scenario, pod: string): Promise<string[]> {
  const list = await s.cp.admin().makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: s.ns });
  return list.items.filter((e) => e.regarding?.name === pod).map((e) => e.reason ?? "");
}

// ---------------------------------------------------------------------------------------------------
// The 410 Gone path. The apiserver's watch cache keeps an event for at least 75 s; once it is older and
// the cache is full, newer events evict it, and a watch from its resourceVersion gets 410 "too old
// resource version". An export the MCS controller leaves untouched ("silent") keeps that old version,
// and the agent's no-op server-side apply hands it to its watch.

const AGE_MS = 77_000;
/** The controller stays silent until the run that needs it (full Role) is surely past its apply. */
const silentFor = (silence: number): ScenarioOptions => ({
  emulator: { ...GLOBALNET, timeScale: 1, delays: { silence } },
});

interface Aged {
  s: Scenario;
  resourceVersion: string;
}

/** True when a watch from `rv` on the export is answered 410 Gone. */
async function tooOld(a: Aged): Promise<boolean> {
  const path = `/apis/${MCS_GROUP}/v1beta1/namespaces/${a.s.ns}/serviceexports`;
  const query = { resourceVersion: a.resourceVersion, fieldSelector: "metadata.name=rook-ceph-mon-a" };
  let gone = false;
  const ctl = await new Watch(a.s.cp.admin()).watch(
    path,
    query,
    (phase, obj: { code?: number }) => (gone ||= phase === "ERROR" && obj.code === 410),
    () => undefined,
  );
  await new Promise((r) => setTimeout(r, 400));
  ctl.abort();
  return gone;
}

/**
 * Writes events to another namespace's export until every aged export is out of the watch cache.
 * `createdBefore`: when the exports were created at the latest.
 */
async function evict(aged: Aged[], createdBefore: number): Promise<void> {
  const s = aged[0]!.s;
  await new Promise((r) => setTimeout(r, Math.max(0, createdBefore + AGE_MS - Date.now())));
  const api = s.cp.admin().makeApiClient(CustomObjectsApi);
  const ref = { group: MCS_GROUP, version: "v1beta1", namespace: await s.cp.newNamespace("flood") };
  const body = { apiVersion: `${MCS_GROUP}/v1beta1`, kind: "ServiceExport", metadata: { name: "flood" } };
  await api.createNamespacedCustomObject({ ...ref, plural: "serviceexports", body });
  for (let n = 0; n < 6000; n++) {
    if (n % 200 === 0 && (await Promise.all(aged.map(tooOld))).every(Boolean)) return;
    const patch = [{ op: "add", path: "/metadata/labels", value: { n: String(n) } }];
    await api.patchNamespacedCustomObject({ ...ref, plural: "serviceexports", name: "flood", body: patch });
  }
  assert.fail("the aged exports are still in the watch cache after 6000 newer events");
}

/** A first run creates the export and gives up (the controller stays silent); its version ages. */
async function createSilentExport(s: Scenario): Promise<Aged> {
  s.emulator?.setFaults(s.ns, "rook-ceph-mon-a", ["silent"]);
  const first = await s.run(MON, { CEPH_MCS_DEADLINE_SECONDS: "10" });
  assert.equal(first.code, 3, lastLog(first));
  const api = s.cp.admin().makeApiClient(CustomObjectsApi);
  const obj = (await api.getNamespacedCustomObject(exportRef(s, "rook-ceph-mon-a"))) as {
    metadata: { resourceVersion: string };
  };
  return { s, resourceVersion: obj.metadata.resourceVersion };
}

/** serviceexports get: with the full Role the 410 is survived; without get, the same run fails. */
async function proveRelistNeeded(c: VerbCase): Promise<void> {
  await withScenario(silentFor(90_000), (full) =>
    withScenario(silentFor(600_000), async (noGet) => {
      await dropVerb(noGet, c);
      const aged = await Promise.all([createSilentExport(full), createSilentExport(noGet)]);
      // Each run applied the export before its 10 s deadline started running out.
      await evict(aged, Date.now() - 10_000);
      const [works, breaks] = await Promise.all([
        full.run(MON, RUN_ENV.relist),
        noGet.run(MON, RUN_ENV.relist),
      ]);
      assertWorks(works);
      assertForbidden(breaks, c);
    }),
  );
}

/** events create: the same scenario records an Event with the full Role, and none without the verb. */
async function proveEventsNeeded(c: VerbCase): Promise<void> {
  await withScenario({ emulator: GLOBALNET }, async (s) => {
    assertWorks(await s.run(OSD));
    assert.deepEqual(await podEvents(s, "rook-ceph-osd-0-0"), ["GlobalAddressReady"], "full Role: an Event");
    await dropVerb(s, c);
    assertWorks(await s.run(MON));
    assert.deepEqual(await podEvents(s, "rook-ceph-mon-a-0"), [], "without the verb: no Event");
  });
}

async function proveNeeded(c: VerbCase): Promise<void> {
  if (c.breaks === "silent") return proveEventsNeeded(c);
  if (c.run === "relist") return proveRelistNeeded(c);
  await withScenario({ emulator: GLOBALNET }, async (s) => {
    await dropVerb(s, c);
    const deadline: Record<string, string> =
      c.breaks === "deadline" ? { CEPH_MCS_DEADLINE_SECONDS: "10" } : {};
    const run = await s.run(MON, { ...RUN_ENV[c.run], ...deadline });
    if (c.breaks === "forbidden") {
      assert.equal(run.code, 2, lastLog(run));
      assertForbidden(run, c);
      return;
    }
    assert.equal(run.code, 3, lastLog(run));
    assert.equal(run.publicAddr, undefined, "no public-addr may be written");
    assert.match(run.terminationMessage ?? "", /gave up waiting for the ServiceExport/);
  });
}

// The long relist proof (~100 s, mostly waiting) runs next to everything else.
describe("the shipped init Role", { concurrency: true }, () => {
  test("every verb of the shipped Role has a case below, and nothing else is granted", async () => {
    const role = await initRole();
    const granted = (role.rules ?? []).flatMap((r) =>
      (r.apiGroups ?? []).flatMap((group) =>
        (r.resources ?? []).flatMap((resource) => r.verbs.map((verb) => key({ group, resource, verb }))),
      ),
    );
    assert.deepEqual([...granted].sort(), CASES.map(key).sort());
    assert.ok(
      (role.rules ?? []).every((r) => !r.resourceNames && !r.nonResourceURLs),
      "no resourceNames or non-resource URLs",
    );
    assert.equal(role.kind, "Role", "namespaced, not a ClusterRole");
  });

  describe("the full Role works", { concurrency: 4 }, () => {
    let s: Scenario;
    before(async () => {
      s = await startScenario({ emulator: GLOBALNET });
    });
    after(() => s.stop());

    test("mon, type and id from the pod's labels, CephCluster found by listing", async () => {
      const run = await s.run(MON, { ...RUN_ENV.labels, ...RUN_ENV.list });
      assertWorks(run);
      assert.ok(
        run.logs.some((l) => String(l.msg).startsWith("ServiceExport:") && l.state !== "ready"),
        "the export was not ready at first: the run needed the watch",
      );
    });

    for (const kind of ["env", "labels", "list"] as const) {
      test(`mon, run "${kind}"`, async () => {
        const mon: Daemon = { type: "mon", id: { env: "b", labels: "c", list: "d" }[kind] };
        assertWorks(await s.run(mon, RUN_ENV[kind]));
      });
    }

    test("OSD", async () => {
      assertWorks(await s.run(OSD));
    });

    test("Events are recorded on the pod", async () => {
      assertWorks(await s.run({ type: "osd", id: "1" }));
      assert.deepEqual(await podEvents(s, "rook-ceph-osd-1-0"), ["GlobalAddressReady"]);
    });
  });

  describe("without any one verb, a run that works with the full Role breaks", { concurrency: 4 }, () => {
    // The relist proof waits for the watch cache to age (~80 s): start it first, next to the others.
    const ordered = [...CASES].sort((a, b) => Number(b.run === "relist") - Number(a.run === "relist"));
    for (const c of ordered) {
      const name = `${key(c)} (run "${c.run}": ${c.breaks})`;
      test(name, () => proveNeeded(c));
    }
  });
});
