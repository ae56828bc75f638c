// The emulated MCS controller against the real kube-apiserver: every profile's condition sequence is
// observed through a real watch, plus Globalnet, the Lighthouse EndpointSlice, DNS and the faults.
// The pure parts (IPAM, condition logic, schema adaptation) are checked first, without an apiserver.
import { describe, it, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { Resolver } from "node:dns/promises";
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  Watch,
  type KubeConfig,
  type V1EndpointSlice,
  type V1ServiceSpec,
} from "@kubernetes/client-node";
import { sharedControlPlane, type ControlPlane } from "../harness/controlplane.ts";
import { startUdpResponder } from "../harness/dns.ts";
import {
  FAULTS,
  FAULT_ANNOTATION,
  FAULT_NAMES,
  PROFILES,
  PROFILE_NAMES,
  createBackendEndpointSlice,
  startEmulator,
  type Condition,
  type Emulator,
  type EmulatorOptions,
  type FaultName,
  type ProfileName,
} from "../emulator/mcs-controller.ts";
import { GlobalIpPool, PoolExhaustedError, formatIp, parseIp } from "../emulator/ipam.ts";
import {
  MAX_APPENDED_CONDITIONS,
  adaptToSchema,
  applyOutcome,
  evaluate,
  type Facts,
  type Stage,
} from "../emulator/conditions.ts";
import { parseFaultList } from "../emulator/faults.ts";

const SCALE = 0.05; // react 15 ms, broker round trip 37.5 ms, Globalnet allocation 40 ms, silence 250 ms
const MCS_GROUP = "multicluster.x-k8s.io";
const GIIP = { group: "submariner.io", version: "v1", plural: "globalingressips" };

const summary = (conds: readonly { type: string; status: string; reason: string }[] | undefined): string =>
  (conds ?? []).map((c) => `${c.type}=${c.status}/${c.reason}`).join(", ");

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The last snapshot each profile reaches for a plain ClusterIP Service (earlier ones: EXPECTED). */
const EXPECTED: Record<ProfileName, string[]> = {
  "lighthouse-0.12": ["Valid=False/AwaitingSync", "Valid=False/AwaitingSync, Valid=True/Valid"],
  "lighthouse-0.15": [
    "Valid=True/Valid",
    "Valid=True/Valid, Synced=False/AwaitingExport",
    "Valid=True/Valid, Synced=True/Exported",
  ],
  "lighthouse-0.20": [
    "Valid=True/Valid",
    "Valid=True/Valid, Ready=False/AwaitingExport",
    "Valid=True/Valid, Ready=True/Exported",
  ],
  "lighthouse-0.21-globalnet": [
    "Valid=False/ServiceGlobalIPUnavailable",
    "Valid=True/Valid",
    "Valid=True/Valid, Ready=False/Pending",
    "Valid=True/Valid, Ready=True/Exported",
  ],
  cilium: ["Valid=True/Valid, Ready=True/Ready, Conflict=False/NoConflicts"],
  antrea: ["Valid=False/ServiceWithoutEndpoints", "Valid=True/Succeed"],
};

/** Final message of the condition that says "exported", per profile. */
const FINAL_MESSAGE: Record<ProfileName, [string, string]> = {
  "lighthouse-0.12": ["Valid", "Service was successfully synced to the broker"],
  "lighthouse-0.15": ["Synced", "Service was successfully exported to the broker"],
  "lighthouse-0.20": ["Ready", "Service was successfully exported to the broker"],
  "lighthouse-0.21-globalnet": ["Ready", "Service was successfully exported to the broker"],
  cilium: ["Ready", "ServiceExport is ready"],
  antrea: ["Valid", "The Service is exported successfully"],
};

// ---- pure parts ---------------------------------------------------------------------------------------

function facts(profile: ProfileName, stage: Stage, over: Partial<Facts> = {}): Facts {
  return {
    profile,
    namespace: "ceph",
    name: "rook-ceph-mon-a",
    clusterId: "c1",
    service: { type: "ClusterIP", clusterIP: "10.96.0.10", headless: false },
    faults: new Set(),
    restricted: false,
    globalnet: PROFILES[profile].globalnet,
    globalIp: { phase: "allocated", ip: "242.0.1.254" },
    endpointsReady: true,
    stage,
    importExisted: false,
    ...over,
  };
}

describe("emulator pure parts", () => {
  it("allocates like Globalnet: highest free first, no network/broadcast, stable per key", () => {
    const pool = new GlobalIpPool("242.0.1.0/24");
    assert.equal(pool.allocate("ns/a"), "242.0.1.254");
    assert.equal(pool.allocate("ns/b"), "242.0.1.253");
    assert.equal(pool.allocate("ns/a"), "242.0.1.254");
    pool.release("ns/a");
    assert.equal(
      pool.allocate("ns/c"),
      "242.0.1.254",
      "the released highest address is reused (same-if-free)",
    );
    const tiny = new GlobalIpPool("242.0.2.0/30");
    assert.deepEqual([tiny.allocate("x"), tiny.allocate("y")], ["242.0.2.2", "242.0.2.1"]);
    assert.throws(() => tiny.allocate("z"), PoolExhaustedError);
    assert.throws(() => tiny.allocate("z"), /insufficient IPs available for allocation/);
    assert.throws(() => new GlobalIpPool("242.0.3.0/31"), /too small/);
  });

  it("re-created exports: same-if-free gives the old IP back, different guarantees another", () => {
    const same = new GlobalIpPool("242.0.1.0/24", "same-if-free");
    const other = new GlobalIpPool("242.0.1.0/24", "different");
    for (const pool of [same, other]) {
      pool.allocate("ns/a");
      pool.release("ns/a");
    }
    assert.equal(same.allocate("ns/a"), "242.0.1.254");
    assert.equal(other.allocate("ns/a"), "242.0.1.253");
    const full = new GlobalIpPool("242.0.2.0/30", "different");
    full.allocate("a");
    full.allocate("b");
    full.release("a");
    assert.equal(
      full.allocate("c"),
      "242.0.2.2",
      "quarantined addresses are reused when nothing else is left",
    );
  });

  it("handles IPv6 CIDRs", () => {
    const pool = new GlobalIpPool("fd00:242::/126");
    assert.equal(pool.allocate("a"), "fd00:242::2");
    assert.equal(formatIp(6, parseIp("fd00:0:0:0:0:0:0:1").value), "fd00::1");
    assert.equal(formatIp(6, parseIp("2001:db8::1:0:0:1").value), "2001:db8::1:0:0:1");
  });

  it("derives each Lighthouse version's happy path", () => {
    const walk = (p: ProfileName): string[] =>
      (["reacted", "imported", "aggregated", "synced"] as Stage[]).map((s) =>
        summary(evaluate(facts(p, s)).set),
      );
    assert.deepEqual(walk("lighthouse-0.12"), [
      "Valid=False/AwaitingSync",
      "Valid=False/AwaitingSync",
      "Valid=False/AwaitingSync",
      "Valid=True/",
    ]);
    assert.deepEqual(walk("lighthouse-0.15"), [
      "Valid=True/",
      "Valid=True/, Synced=False/AwaitingExport",
      "Valid=True/, Synced=False/AwaitingExport",
      "Valid=True/, Synced=True/",
    ]);
    assert.deepEqual(walk("lighthouse-0.21-globalnet"), [
      "Valid=True/Valid",
      "Valid=True/Valid, Ready=False/Pending",
      "Valid=True/Valid, Ready=False/Pending",
      "Valid=True/Valid, Ready=True/Exported",
    ]);
    const conflict = (s: Stage) =>
      evaluate(facts("lighthouse-0.20", s, { faults: new Set<FaultName>(["type-conflict"]) }));
    assert.equal(
      summary(conflict("imported").set),
      "Valid=True/, Ready=False/AwaitingExport",
      "not known before the broker",
    );
    assert.equal(
      summary(conflict("aggregated").set),
      "Valid=True/, Ready=False/ExportFailed, Conflict=True/ConflictingType",
    );
    assert.deepEqual([conflict("aggregated").advance, conflict("aggregated").slice], [false, false]);
    const pending = facts("lighthouse-0.21-globalnet", "reacted", { globalIp: { phase: "pending" } });
    assert.equal(summary(evaluate(pending).set), "Valid=False/ServiceGlobalIPUnavailable");
    assert.equal(evaluate(facts("lighthouse-0.20", "synced")).address, "10.96.0.10");
  });

  it("derives Cilium and Antrea, including Antrea's endpoint check before the ClusterIP", () => {
    assert.equal(
      summary(evaluate(facts("cilium", "reacted")).set),
      "Valid=True/Valid, Ready=True/Ready, Conflict=False/NoConflicts",
    );
    assert.deepEqual(evaluate(facts("cilium", "reacted", { service: undefined })).remove, ["Conflict"]);
    const headlessNoEndpoints = {
      service: { type: "", clusterIP: undefined, headless: true },
      endpointsReady: false,
    };
    assert.equal(
      summary(evaluate(facts("antrea", "synced", headlessNoEndpoints)).set),
      "Valid=False/ServiceWithoutEndpoints",
    );
    assert.deepEqual(
      evaluate(facts("antrea", "imported")).set,
      [],
      "Antrea writes only after the leader accepted",
    );
  });

  it("appends like Lighthouse ≤0.12 (ring of 10) and replaces by type elsewhere", () => {
    const info = PROFILES["lighthouse-0.12"];
    let list: Condition[] = [];
    for (let i = 0; i < 12; i++) {
      const out = {
        ...evaluate(facts("lighthouse-0.12", "reacted")),
        set: [{ type: "Valid", status: "False" as const, reason: `R${i}`, message: "" }],
      };
      list = applyOutcome(list, out, info, `t${i}`) ?? list;
    }
    assert.equal(list.length, MAX_APPENDED_CONDITIONS);
    assert.equal(list.at(-1)?.reason, "R11");
    const cilium = PROFILES.cilium;
    const first = applyOutcome([], evaluate(facts("cilium", "reacted")), cilium, "t1")!;
    const again = applyOutcome(first, evaluate(facts("cilium", "reacted")), cilium, "t2");
    assert.equal(again, undefined, "no write when nothing changed");
    const conflict = evaluate(facts("cilium", "reacted", { faults: new Set<FaultName>(["type-conflict"]) }));
    const updated = applyOutcome(first, conflict, cilium, "t3")!;
    assert.equal(updated.find((c) => c.type === "Conflict")?.lastTransitionTime, "t3");
    assert.equal(updated.find((c) => c.type === "Valid")?.lastTransitionTime, "t1");
  });

  it("adapts to the schema step by step", () => {
    const t = "2026-01-01T00:00:00Z";
    const legacy: Condition[] = [
      { type: "Valid", status: "False", reason: "AwaitingSync", message: "a", lastTransitionTime: t },
      { type: "Valid", status: "True", reason: "", message: "b", lastTransitionTime: t },
    ];
    assert.deepEqual(adaptToSchema(legacy, 0), { conditions: legacy, deviations: [] });
    assert.equal(summary(adaptToSchema(legacy, 1).conditions), "Valid=False/AwaitingSync, Valid=True/Valid");
    assert.equal(summary(adaptToSchema(legacy, 2).conditions), "Valid=True/Valid");
    assert.equal(adaptToSchema(legacy, 2).deviations.length, 2);
  });

  it("documents every profile and fault", () => {
    assert.deepEqual([...PROFILE_NAMES].sort(), Object.keys(EXPECTED).sort());
    for (const p of PROFILE_NAMES) assert.ok(PROFILES[p].sequence.length > 0 && PROFILES[p].imitates !== "");
    for (const f of FAULT_NAMES) assert.ok(FAULTS[f].description !== "");
    assert.deepEqual(parseFaultList(" silent, nope ,dns-multiple"), {
      faults: ["silent", "dns-multiple"],
      unknown: ["nope"],
    });
  });
});

// ---- against the apiserver ----------------------------------------------------------------------------

/** Status snapshots per ServiceExport name, as a real watch delivers them (consecutive repeats dropped). */
interface Observer {
  snapshots(name: string): string[];
  latest(name: string): Condition[];
}

async function observeExports(t: TestContext, kc: KubeConfig, ns: string): Promise<Observer> {
  const seen = new Map<string, string[]>();
  const latest = new Map<string, Condition[]>();
  const onEvent = (
    type: string,
    obj: { metadata?: { name?: string }; status?: { conditions?: Condition[] } },
  ) => {
    if (type === "ERROR" || type === "BOOKMARK") return;
    const name = obj.metadata?.name ?? "";
    const conditions = obj.status?.conditions ?? [];
    const list = seen.get(name) ?? [];
    const s = summary(conditions);
    if (s !== "" && list.at(-1) !== s) list.push(s);
    seen.set(name, list);
    latest.set(name, conditions);
  };
  const path = `/apis/${MCS_GROUP}/v1alpha1/namespaces/${ns}/serviceexports`;
  let stopped = false;
  let ctl: AbortController | undefined;
  // A watch that ends early (e.g. right after the CRD got established) is simply re-opened.
  const open = async (): Promise<void> => {
    ctl = await new Watch(kc).watch(path, {}, onEvent, () => {
      if (!stopped) setTimeout(() => void open().catch(() => undefined), 50);
    });
  };
  await open();
  t.after(() => {
    stopped = true;
    ctl?.abort();
  });
  return { snapshots: (n) => seen.get(n) ?? [], latest: (n) => latest.get(n) ?? [] };
}

interface Env {
  kc: KubeConfig;
  ns: string;
  emu: Emulator;
  obs: Observer;
  dns: Map<string, string[]>;
}

// Acquired at module level: sharedControlPlane() registers its own after() hook, which must belong to
// the root test (inside a suite's before() hook it would stop a standalone control plane too early).
const cp: ControlPlane = await sharedControlPlane();

async function env(t: TestContext, profile: ProfileName, extra: Partial<EmulatorOptions> = {}): Promise<Env> {
  const kc = cp.admin();
  const ns = extra.namespace ?? (await cp.newNamespace(`emu-${profile.replace(/\./g, "")}`));
  const obs = await observeExports(t, kc, ns);
  const dns = new Map<string, string[]>();
  const emu = await startEmulator({
    kubeConfig: kc,
    profile,
    namespace: ns,
    timeScale: SCALE,
    onDnsRecord: (name, addresses) => dns.set(name, [...addresses]),
    onDnsRemove: (name) => dns.delete(name),
    ...extra,
  });
  t.after(() => emu.stop());
  return { kc, ns, emu, obs, dns };
}

async function createService(
  e: Env,
  name: string,
  spec: V1ServiceSpec = {},
  annotations = {},
): Promise<void> {
  const ports = spec.type === "ExternalName" ? undefined : [{ name: "tcp-msgr2", port: 3300 }];
  await e.kc.makeApiClient(CoreV1Api).createNamespacedService({
    namespace: e.ns,
    body: { metadata: { name, annotations }, spec: Object.assign({ ports }, spec) },
  });
}

async function createExport(e: Env, name: string, annotations = {}, version = "v1alpha1"): Promise<void> {
  await e.kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
    group: MCS_GROUP,
    version,
    plural: "serviceexports",
    namespace: e.ns,
    body: { apiVersion: `${MCS_GROUP}/${version}`, kind: "ServiceExport", metadata: { name, annotations } },
  });
}

async function deleteExport(e: Env, name: string): Promise<void> {
  const ref = { group: MCS_GROUP, version: "v1alpha1", plural: "serviceexports", namespace: e.ns, name };
  await e.kc.makeApiClient(CustomObjectsApi).deleteNamespacedCustomObject(ref);
}

async function exportService(e: Env, name: string, spec: V1ServiceSpec = {}): Promise<void> {
  await createService(e, name, spec);
  await createExport(e, name);
}

const lastIs = (e: Env, name: string, want: string) => () => e.obs.snapshots(name).at(-1) === want;

async function waitLast(e: Env, name: string, want: string, ms = 10_000): Promise<void> {
  try {
    await until(`${name}: ${want}`, lastIs(e, name, want), ms);
  } catch (err) {
    const events = e.emu.events.map((ev) => `${ev.kind} ${ev.key} ${ev.detail}`).join("\n  ");
    const seen = e.obs.snapshots(name).join(" | ");
    throw new Error(`${(err as Error).message}\nseen: ${seen}\nemulator:\n  ${events}`, { cause: err });
  }
}

interface GiipObj {
  spec: { target: string; serviceRef: { name: string } };
  status?: { allocatedIP?: string; conditions?: Condition[] };
}

async function giip(e: Env, name: string): Promise<GiipObj> {
  const api = e.kc.makeApiClient(CustomObjectsApi);
  return (await api.getNamespacedCustomObject({ ...GIIP, namespace: e.ns, name })) as GiipObj;
}

async function giipGone(e: Env, name: string): Promise<boolean> {
  return giip(e, name).then(
    () => false,
    () => true,
  );
}

async function lighthouseSlices(e: Env, name: string) {
  const api = e.kc.makeApiClient(DiscoveryV1Api);
  const labelSelector = `multicluster.kubernetes.io/service-name=${name},multicluster.kubernetes.io/source-cluster=${e.emu.clusterId}`;
  return (await api.listNamespacedEndpointSlice({ namespace: e.ns, labelSelector })).items;
}

const clusterName = (e: Env, svc: string): string => `${e.emu.clusterId}.${svc}.${e.ns}.svc.clusterset.local`;
const plainName = (e: Env, svc: string): string => `${svc}.${e.ns}.svc.clusterset.local`;

const firstEndpoint = (slice: V1EndpointSlice | undefined) => slice?.endpoints?.[0];

/** The emulator's DNS callbacks wired to a real (loopback) DNS server, and a resolver pointed at it. */
async function resolverFor(t: TestContext, e: Env): Promise<Resolver> {
  const responder = await startUdpResponder((q) => {
    const addresses = e.dns.get(q.name.toLowerCase().replace(/\.$/, ""));
    if (addresses === undefined) return { kind: "nxdomain" };
    return addresses.length === 0 ? { kind: "nodata" } : { kind: "addresses", addresses };
  });
  t.after(() => responder.stop());
  const resolver = new Resolver({ timeout: 500, tries: 2 });
  resolver.setServers([responder.server]);
  return resolver;
}

async function checkGlobalIngressIp(e: Env, name: string, ip: string): Promise<void> {
  const obj = await giip(e, name);
  assert.deepEqual(obj.spec, { target: "ClusterIPService", serviceRef: { name } });
  assert.equal(obj.status?.allocatedIP, ip);
  assert.equal(summary(obj.status.conditions), "Allocated=True/Success");
  assert.equal(obj.status.conditions?.[0]?.message, "Allocated global IP");
  assert.equal(e.emu.globalIp(e.ns, name), ip);
}

async function checkLighthouseSlice(e: Env, name: string, ip: string): Promise<void> {
  const slices = await lighthouseSlices(e, name);
  assert.equal(slices.length, 1);
  const slice = slices[0]!;
  const labels = slice.metadata?.labels ?? {};
  assert.match(slice.metadata?.name ?? "", new RegExp(`^${name}-[a-z0-9]{5}$`));
  assert.equal(labels["endpointslice.kubernetes.io/managed-by"], "lighthouse-agent.submariner.io");
  assert.equal(labels["lighthouse.submariner.io/sourceNamespace"], e.ns);
  assert.equal(labels["multicluster.kubernetes.io/source-cluster"], e.emu.clusterId);
  assert.deepEqual(firstEndpoint(slice)?.addresses, [ip]);
  assert.equal(firstEndpoint(slice)?.conditions?.ready, false, "no ready backend yet");
  assert.equal(slice.ports?.[0]?.port, 3300);
}

describe("emulator against the real apiserver", () => {
  for (const profile of PROFILE_NAMES) {
    it(`${profile}: writes ${PROFILES[profile].imitates.split(" (")[0]}'s sequence, seen by a real watch`, async (t) => {
      const e = await env(t, profile);
      await exportService(e, "rook-ceph-mon-a");
      const want = EXPECTED[profile];
      if (profile === "antrea") {
        await waitLast(e, "rook-ceph-mon-a", want[0]!);
        await createBackendEndpointSlice(e.kc, {
          namespace: e.ns,
          service: "rook-ceph-mon-a",
          addresses: ["10.244.0.5"],
          ready: true,
        });
      }
      await waitLast(e, "rook-ceph-mon-a", want.at(-1)!);
      assert.deepEqual(e.obs.snapshots("rook-ceph-mon-a"), want);
      const [type, message] = FINAL_MESSAGE[profile];
      const final = e.obs
        .latest("rook-ceph-mon-a")
        .filter((c) => c.type === type)
        .at(-1);
      assert.equal(final?.message, message);
      assert.match(final.lastTransitionTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      await e.emu.settled(); // the watch event can arrive before the emulator's PATCH returned
      assert.deepEqual([...e.emu.history(e.ns, "rook-ceph-mon-a")].map(summary), want);
    });
  }

  it("reports what the CRD forced: empty reasons are substituted, appended duplicates are kept", async (t) => {
    const e = await env(t, "lighthouse-0.12");
    await exportService(e, "mon-b");
    await waitLast(e, "mon-b", EXPECTED["lighthouse-0.12"].at(-1)!);
    await e.emu.settled(); // the watch event can arrive before the emulator's PATCH returned
    assert.deepEqual(
      [...e.emu.deviations],
      ['empty reason of "Valid" stored as "Valid" (CRD: reason minLength 1)'],
    );
    const deviation = e.emu.events.find((ev) => ev.kind === "deviation");
    assert.match(deviation?.detail ?? "", /should be at least 1 chars long/);
    assert.equal(e.obs.latest("mon-b").length, 2, "two Valid entries, like Lighthouse ≤0.12");
  });

  it("Globalnet: GlobalIngressIP, Lighthouse EndpointSlice and DNS agree; a real resolver sees them", async (t) => {
    const e = await env(t, "lighthouse-0.21-globalnet");
    const resolver = await resolverFor(t, e);
    await exportService(e, "mon-a");
    await waitLast(e, "mon-a", EXPECTED["lighthouse-0.21-globalnet"].at(-1)!);
    await checkGlobalIngressIp(e, "mon-a", "242.0.1.254");
    await checkLighthouseSlice(e, "mon-a", "242.0.1.254");
    assert.deepEqual(await resolver.resolve4(`${clusterName(e, "mon-a")}.`), ["242.0.1.254"]);
    await assert.rejects(resolver.resolve4(`${plainName(e, "mon-a")}.`), { code: "ENODATA" });
    await assert.rejects(resolver.resolve4(`${plainName(e, "nope")}.`), { code: "ENOTFOUND" });

    // A backend appears (ready unset = ready for Lighthouse): the slice turns ready, the plain name resolves.
    await createBackendEndpointSlice(e.kc, {
      namespace: e.ns,
      service: "mon-a",
      addresses: ["10.244.1.7"],
      ready: undefined,
    });
    await until(
      "Lighthouse slice ready",
      async () => firstEndpoint((await lighthouseSlices(e, "mon-a"))[0])?.conditions?.ready,
    );
    const plain = await until("plain name resolves", () =>
      resolver.resolve4(`${plainName(e, "mon-a")}.`).catch(() => undefined),
    );
    assert.deepEqual(plain, ["242.0.1.254"]);
  });

  it("Service deleted under a live export: NoService + NoServiceImport, everything published goes", async (t) => {
    const e = await env(t, "lighthouse-0.21-globalnet");
    await exportService(e, "mon-c");
    await waitLast(e, "mon-c", "Valid=True/Valid, Ready=True/Exported");
    await e.kc.makeApiClient(CoreV1Api).deleteNamespacedService({ name: "mon-c", namespace: e.ns });
    await waitLast(e, "mon-c", "Valid=False/NoService, Ready=False/NoServiceImport");
    await until("GlobalIngressIP deleted", () => giipGone(e, "mon-c"));
    await until("EndpointSlice deleted", async () => (await lighthouseSlices(e, "mon-c")).length === 0);
    assert.equal(e.dns.size, 0);
    const valid = e.obs.latest("mon-c").find((c) => c.type === "Valid");
    assert.equal(valid?.message, "Service to be exported doesn't exist");
  });

  it("keeps a Service's global IP while its export exists; a re-created export may get it back or not", async (t) => {
    for (const [reallocation, again] of [
      ["same-if-free", "242.0.1.254"],
      ["different", "242.0.1.252"],
    ] as const) {
      const e = await env(t, "lighthouse-0.21-globalnet", { reallocation });
      await exportService(e, "osd-0");
      await until("osd-0 allocated", () => e.emu.globalIp(e.ns, "osd-0"));
      await exportService(e, "osd-1");
      await until("osd-1 allocated", () => e.emu.globalIp(e.ns, "osd-1"));
      assert.deepEqual(
        [e.emu.globalIp(e.ns, "osd-0"), e.emu.globalIp(e.ns, "osd-1")],
        ["242.0.1.254", "242.0.1.253"],
      );
      await deleteExport(e, "osd-0");
      await until("GlobalIngressIP released", () => giipGone(e, "osd-0"));
      await createExport(e, "osd-0");
      const ip = await until(
        "re-allocated",
        async () => (await giip(e, "osd-0").catch(() => undefined))?.status?.allocatedIP,
      );
      assert.equal(ip, again, reallocation);
      assert.equal(e.emu.globalIp(e.ns, "osd-1"), "242.0.1.253", "untouched export keeps its IP");
      assert.equal((await giip(e, "osd-1")).status?.allocatedIP, "242.0.1.253");
    }
  });

  it("pool exhausted for real: IPPoolAllocationFailed until an address is freed", async (t) => {
    const e = await env(t, "lighthouse-0.21-globalnet", { globalCidr: "242.0.9.0/30" });
    for (const n of ["osd-0", "osd-1"]) await exportService(e, n);
    await until("two allocated", () => e.emu.globalIp(e.ns, "osd-1") && e.emu.globalIp(e.ns, "osd-0"));
    await exportService(e, "osd-2");
    await waitLast(e, "osd-2", "Valid=False/IPPoolAllocationFailed");
    const valid = e.obs.latest("osd-2").find((c) => c.type === "Valid");
    assert.equal(
      valid?.message,
      "Unable to obtain global IP: Error allocating a global IP from the pool: insufficient IPs available for allocation",
    );
    assert.equal(
      summary((await giip(e, "osd-2")).status?.conditions),
      "Allocated=False/IPPoolAllocationFailed",
    );
    await deleteExport(e, "osd-0");
    await waitLast(e, "osd-2", "Valid=True/Valid, Ready=True/Exported");
    assert.equal(e.emu.globalIp(e.ns, "osd-2"), "242.0.9.2");
  });

  it("invalid Service types, per implementation", async (t) => {
    const cases: [ProfileName, V1ServiceSpec, string, string][] = [
      [
        "lighthouse-0.20",
        { type: "NodePort" },
        "Valid=False/UnsupportedServiceType",
        "Service of type NodePort not supported",
      ],
      [
        "lighthouse-0.21-globalnet",
        { type: "LoadBalancer" },
        "Valid=False/InvalidServiceType",
        "Service of type LoadBalancer not supported",
      ],
      [
        "cilium",
        { type: "ExternalName", externalName: "x.example" },
        "Valid=False/InvalidServiceType, Ready=False/Pending",
        "Service type ExternalName is not supported",
      ],
      [
        "antrea",
        { type: "ExternalName", externalName: "x.example" },
        "Valid=False/ServiceTypeNotSupported",
        "Service of ExternalName type is not supported",
      ],
    ];
    for (const [profile, spec, want, message] of cases) {
      const e = await env(t, profile);
      await exportService(e, "svc", spec);
      await waitLast(e, "svc", want);
      assert.equal(e.obs.latest("svc").find((c) => c.type === "Valid")?.message, message);
    }
    const forced = await env(t, "lighthouse-0.21-globalnet");
    forced.emu.setFaults(forced.ns, "svc", ["invalid-type"]);
    await exportService(forced, "svc");
    await waitLast(forced, "svc", "Valid=False/InvalidServiceType");
  });

  it("restricted namespace: by fault annotation and by the deny list (prefix), allow list wins", async (t) => {
    const a = await env(t, "lighthouse-0.21-globalnet");
    await createService(a, "mon-a", {}, { [FAULT_ANNOTATION]: "restricted-namespace" });
    await createExport(a, "mon-a");
    await waitLast(a, "mon-a", "Valid=False/RestrictedNamespace");
    const msg = a.obs.latest("mon-a")[0]?.message;
    assert.equal(msg, `Service in namespace "${a.ns}" cannot be exported due to namespace restriction`);
    const b = await env(t, "lighthouse-0.20", { namespaceDenyList: ["emu-"] });
    await exportService(b, "mon-a");
    await waitLast(b, "mon-a", "Valid=False/RestrictedNamespace");
    await b.emu.stop();
    // A controller restarted with an allow list picks the existing export up again.
    const allowed = { namespace: b.ns, namespaceDenyList: ["emu-"], namespaceAllowList: [b.ns] };
    await env(t, "lighthouse-0.20", allowed);
    await waitLast(b, "mon-a", "Valid=True/Valid, Ready=True/Exported");
  });

  it("pool-exhausted fault, lifted at run time", async (t) => {
    const e = await env(t, "lighthouse-0.21-globalnet");
    e.emu.setFaults(e.ns, "mon-a", ["pool-exhausted"]);
    await exportService(e, "mon-a");
    await waitLast(e, "mon-a", "Valid=False/IPPoolAllocationFailed");
    e.emu.setFaults(e.ns, "mon-a", []);
    await waitLast(e, "mon-a", "Valid=True/Valid, Ready=True/Exported");
  });

  it("type conflict: Lighthouse stops exporting, Cilium keeps serving", async (t) => {
    const lh = await env(t, "lighthouse-0.20");
    lh.emu.setFaults(lh.ns, "mon-a", ["type-conflict"]);
    await exportService(lh, "mon-a");
    await waitLast(lh, "mon-a", "Valid=True/Valid, Ready=False/ExportFailed, Conflict=True/ConflictingType");
    assert.deepEqual(lh.obs.snapshots("mon-a"), [
      "Valid=True/Valid",
      "Valid=True/Valid, Ready=False/AwaitingExport",
      "Valid=True/Valid, Ready=False/ExportFailed, Conflict=True/ConflictingType",
    ]);
    await lh.emu.settled();
    assert.deepEqual(await lighthouseSlices(lh, "mon-a"), []);
    assert.equal(lh.dns.size, 0);
    const ci = await env(t, "cilium");
    await createService(ci, "mon-a", {}, { [FAULT_ANNOTATION]: "type-conflict" });
    await createExport(ci, "mon-a");
    await waitLast(ci, "mon-a", "Valid=True/Valid, Ready=True/Ready, Conflict=True/TypeConflict");
    assert.match(ci.obs.latest("mon-a")[2]?.message ?? "", /^Conflicting type\. 1\/2 clusters disagree/);
  });

  it("export failed at the broker: Ready=False ExportFailed, nothing in DNS", async (t) => {
    const e = await env(t, "lighthouse-0.20");
    await createService(e, "mon-a");
    await createExport(e, "mon-a", { [FAULT_ANNOTATION]: "export-failed" });
    await waitLast(e, "mon-a", "Valid=True/Valid, Ready=False/ExportFailed");
    assert.match(e.obs.latest("mon-a")[1]?.message ?? "", /^Unable to export: /);
    await e.emu.settled();
    assert.equal(e.dns.size, 0);
  });

  it("silent: no conditions at all for a while, then the normal sequence", async (t) => {
    const e = await env(t, "lighthouse-0.20");
    e.emu.setFaults(e.ns, "mon-a", ["silent"]);
    const created = Date.now();
    await exportService(e, "mon-a");
    await waitLast(e, "mon-a", "Valid=True/Valid");
    assert.ok(Date.now() - created >= 5000 * SCALE, "nothing was written during the silence");
    await waitLast(e, "mon-a", EXPECTED["lighthouse-0.20"].at(-1)!);
  });

  it("sources that disagree: DNS vs GlobalIngressIP, EndpointSlice vs GlobalIngressIP, several records", async (t) => {
    const e = await env(t, "lighthouse-0.21-globalnet");
    const wanted: [string, FaultName][] = [
      ["dns", "dns-disagrees"],
      ["eps", "endpointslice-disagrees"],
      ["multi", "dns-multiple"],
    ];
    for (const [name, fault] of wanted) {
      e.emu.setFaults(e.ns, name, [fault]);
      await exportService(e, name);
    }
    for (const [name] of wanted) await waitLast(e, name, "Valid=True/Valid, Ready=True/Exported");
    await e.emu.settled();
    const ip = (n: string): string => e.emu.globalIp(e.ns, n)!;
    const sliceIp = async (n: string) => firstEndpoint((await lighthouseSlices(e, n))[0])?.addresses[0];
    assert.notDeepEqual(e.dns.get(clusterName(e, "dns")), [ip("dns")]);
    assert.equal(await sliceIp("dns"), ip("dns"));
    assert.notEqual(await sliceIp("eps"), ip("eps"));
    assert.deepEqual(e.dns.get(clusterName(e, "eps")), [ip("eps")]);
    const multi = e.dns.get(clusterName(e, "multi")) ?? [];
    assert.equal(multi.length, 2);
    assert.equal(multi[0], ip("multi"));
  });

  it("serves v1beta1 too: an emulator on v1beta1 answers exports made through v1alpha1", async (t) => {
    const e = await env(t, "lighthouse-0.21-globalnet", { apiVersion: "v1beta1" });
    await exportService(e, "mon-a");
    await waitLast(e, "mon-a", EXPECTED["lighthouse-0.21-globalnet"].at(-1)!);
    assert.deepEqual(e.obs.snapshots("mon-a"), EXPECTED["lighthouse-0.21-globalnet"]);
    await createService(e, "mon-b");
    await createExport(e, "mon-b", {}, "v1beta1");
    await waitLast(e, "mon-b", EXPECTED["lighthouse-0.21-globalnet"].at(-1)!);
  });

  it("Lighthouse 0.15 names its EndpointSlice <svc>-<ns>-<cluster>; Antrea loses Valid when endpoints go", async (t) => {
    const lh = await env(t, "lighthouse-0.15", { clusterId: "east" });
    await exportService(lh, "osd-3");
    await waitLast(lh, "osd-3", EXPECTED["lighthouse-0.15"].at(-1)!);
    const [slice] = await lighthouseSlices(lh, "osd-3");
    assert.equal(slice?.metadata?.name, `osd-3-${lh.ns}-east`);
    assert.ok(lh.dns.has(`east.osd-3.${lh.ns}.svc.clusterset.local`));
    const an = await env(t, "antrea");
    an.emu.setEndpointsReady(an.ns, "osd-3", true);
    await exportService(an, "osd-3");
    await waitLast(an, "osd-3", "Valid=True/Succeed");
    an.emu.setEndpointsReady(an.ns, "osd-3", false);
    await waitLast(an, "osd-3", "Valid=False/ServiceWithoutEndpoints");
  });
});
