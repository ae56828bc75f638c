// Bad inputs through the real agent process: wrong env variables, CephCluster contents, pod labels and
// DNS answers, as a user, Rook or an MCS implementation could produce them. Each one must end with the
// misconfiguration exit code 2, exactly one error line, a termination message naming the variable or
// field and its bad value, and nothing written for the daemon. Inputs that turn out not to be
// misconfigurations (retryable, or harmless) are asserted as what they really are and not counted.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { startUdpResponder, type DnsReply } from "../harness/dns.ts";
import {
  MON,
  OSD,
  lastLog,
  startScenario,
  withScenario,
  type AgentRun,
  type Daemon,
  type Scenario,
} from "../harness/scenario.ts";

const CONCURRENCY = 6;
const MCS = "spec.network.multiClusterService";
const CEPH = { group: "ceph.rook.io", version: "v1", plural: "cephclusters" };
const GLOBALNET = { profile: "lighthouse-0.21-globalnet" as const, timeScale: 0.05 };

/** `NAME="value"`: how the agent quotes a bad env value. */
const is = (name: string, value: string): string => `${name}=${JSON.stringify(value)}`;

interface BadInput {
  name: string;
  env: Record<string, string>;
  /** Each must appear in the termination message and in the error log line. */
  says: string[];
  daemon?: Daemon;
}

/** Exit 2, one error line equal to the termination message and naming `says`, nothing written. */
function assertMisconfigured(run: AgentRun, says: readonly string[]): void {
  assert.equal(run.code, 2, lastLog(run));
  assert.equal(run.publicAddr, undefined, "no public-addr may be written");
  assert.equal(run.result, undefined, "no result.json may be written");
  const errors = run.logs.filter((l) => l.level === "error" || l.level === "fatal");
  assert.equal(errors.length, 1, `exactly one error line: ${JSON.stringify(errors)}`);
  const line = String(errors[0]?.msg);
  assert.equal(errors[0]?.exitCode, 2);
  assert.equal(run.terminationMessage, line.slice(0, 4000), "the termination message is the error line");
  for (const text of says) assert.ok(line.includes(text), `names ${text}: ${line}`);
}

// ---------------------------------------------------------------------------------------------------
// Environment: rejected before the agent talks to the API, or right after reading the CephCluster.

const ENV_CASES: BadInput[] = [
  { name: "POD_IP missing", env: { POD_IP: "" }, says: ["POD_IP is not set"] },
  { name: "POD_IP out of range", env: { POD_IP: "10.244.0.300" }, says: [is("POD_IP", "10.244.0.300")] },
  { name: "POD_IP a hostname", env: { POD_IP: "mon-a.local" }, says: [is("POD_IP", "mon-a.local")] },
  { name: "POD_IP a CIDR", env: { POD_IP: "10.244.0.10/24" }, says: [is("POD_IP", "10.244.0.10/24")] },
  {
    name: "POD_NAMESPACE uppercase",
    env: { POD_NAMESPACE: "Rook-Ceph" },
    says: [is("POD_NAMESPACE", "Rook-Ceph")],
  },
  {
    name: "cluster id Cluster_A",
    env: { CEPH_MCS_CLUSTER_ID: "Cluster_A" },
    says: [is("CEPH_MCS_CLUSTER_ID", "Cluster_A"), "RFC-1123 label"],
  },
  { name: "cluster id -a", env: { CEPH_MCS_CLUSTER_ID: "-a" }, says: [is("CEPH_MCS_CLUSTER_ID", "-a")] },
  {
    name: "cluster id of 64 characters",
    env: { CEPH_MCS_CLUSTER_ID: "c".repeat(64) },
    says: [is("CEPH_MCS_CLUSTER_ID", "c".repeat(64)), "at most 63"],
  },
  {
    name: "daemon type mgr",
    env: { CEPH_MCS_DAEMON_TYPE: "mgr" },
    says: [is("CEPH_MCS_DAEMON_TYPE", "mgr"), "one of mon, osd"],
  },
  { name: "mon id A", env: { CEPH_MCS_DAEMON_ID: "A" }, says: [is("CEPH_MCS_DAEMON_ID", "A"), "mon id"] },
  {
    name: "osd id 01 (leading zero)",
    daemon: OSD,
    env: { CEPH_MCS_DAEMON_ID: "01" },
    says: [is("CEPH_MCS_DAEMON_ID", "01"), "OSD id"],
  },
  {
    name: "osd id beyond int32",
    daemon: OSD,
    env: { CEPH_MCS_DAEMON_ID: "2147483648" },
    says: [is("CEPH_MCS_DAEMON_ID", "2147483648")],
  },
  {
    name: "mon id given to the labels' daemon type (env id, label type)",
    env: { CEPH_MCS_DAEMON_TYPE: "", CEPH_MCS_DAEMON_ID: "0" },
    says: [is("CEPH_MCS_DAEMON_ID", "0"), "mon id"],
  },
  {
    name: "CEPH_MCS_ENABLED yes",
    env: { CEPH_MCS_ENABLED: "yes" },
    says: [is("CEPH_MCS_ENABLED", "yes"), "true or false"],
  },
  {
    name: "CEPH_MCS_MSGR2_ONLY 1",
    env: { CEPH_MCS_MSGR2_ONLY: "1" },
    says: [is("CEPH_MCS_MSGR2_ONLY", "1")],
  },
  {
    name: "global CIDR prefix 33",
    env: { CEPH_MCS_GLOBAL_CIDRS: "242.0.0.0/33" },
    says: [is("CEPH_MCS_GLOBAL_CIDRS", "242.0.0.0/33"), "prefix length from 0 to 32"],
  },
  {
    name: "global CIDR list with an empty item",
    env: { CEPH_MCS_GLOBAL_CIDRS: "242.0.0.0/8," },
    says: [is("CEPH_MCS_GLOBAL_CIDRS", "242.0.0.0/8,"), 'item ""'],
  },
  {
    name: "IPv6 global IP with only IPv4 CIDRs (checked after the CephCluster is read)",
    env: { CEPH_MCS_IP_FAMILY: "6", CEPH_MCS_GLOBAL_CIDRS: "242.0.0.0/8" },
    says: [is("CEPH_MCS_GLOBAL_CIDRS", "242.0.0.0/8"), "IPv6 CIDR"],
  },
  {
    name: "DNS server a hostname",
    env: { CEPH_MCS_DNS_SERVERS: "kube-dns.kube-system" },
    says: [is("CEPH_MCS_DNS_SERVERS", "kube-dns.kube-system")],
  },
  {
    name: "DNS server port 0",
    env: { CEPH_MCS_DNS_SERVERS: "127.0.0.1:0" },
    says: [is("CEPH_MCS_DNS_SERVERS", "127.0.0.1:0"), "port from 1 to 65535"],
  },
  {
    name: "deadline negative",
    env: { CEPH_MCS_DEADLINE_SECONDS: "-5" },
    says: [is("CEPH_MCS_DEADLINE_SECONDS", "-5"), "from 10 to 86400"],
  },
  {
    name: "deadline zero",
    env: { CEPH_MCS_DEADLINE_SECONDS: "0" },
    says: [is("CEPH_MCS_DEADLINE_SECONDS", "0")],
  },
  {
    name: "deadline huge",
    env: { CEPH_MCS_DEADLINE_SECONDS: "999999999" },
    says: [is("CEPH_MCS_DEADLINE_SECONDS", "999999999")],
  },
  {
    name: "warn-after not below the deadline",
    env: { CEPH_MCS_WARN_AFTER_SECONDS: "20", CEPH_MCS_DEADLINE_SECONDS: "20" },
    says: ["CEPH_MCS_WARN_AFTER_SECONDS=20", "less than CEPH_MCS_DEADLINE_SECONDS=20"],
  },
  {
    name: "DNS timeout 50 ms",
    env: { CEPH_MCS_DNS_TIMEOUT_MS: "50" },
    says: [is("CEPH_MCS_DNS_TIMEOUT_MS", "50"), "from 100 to 60000"],
  },
  {
    name: "IP family ipv4",
    env: { CEPH_MCS_IP_FAMILY: "ipv4" },
    says: [is("CEPH_MCS_IP_FAMILY", "ipv4"), "4 or 6"],
  },
  {
    name: "CephCluster name uppercase",
    env: { CEPH_MCS_CEPHCLUSTER: "My-Cluster" },
    says: [is("CEPH_MCS_CEPHCLUSTER", "My-Cluster")],
  },
  {
    name: "typo'd variable CEPH_MCS_DEADLINE_SECOND",
    env: { CEPH_MCS_DEADLINE_SECOND: "60" },
    says: [is("CEPH_MCS_DEADLINE_SECOND", "60"), "did you mean CEPH_MCS_DEADLINE_SECONDS?"],
  },
  {
    name: "relative CEPH_MCS_DIR",
    env: { CEPH_MCS_DIR: "run/ceph-mcs" },
    says: [is("CEPH_MCS_DIR", "run/ceph-mcs"), "absolute path"],
  },
  { name: "relative KUBECONFIG", env: { KUBECONFIG: "kubeconfig" }, says: [is("KUBECONFIG", "kubeconfig")] },
  {
    name: "KUBECONFIG naming a missing file",
    env: { KUBECONFIG: "/nonexistent/kubeconfig" },
    says: ["cannot load the Kubernetes client configuration", "/nonexistent/kubeconfig"],
  },
  {
    name: "wrapper inside CEPH_MCS_DIR",
    env: { CEPH_MCS_DIR: "/nonexistent/ceph-mcs", CEPH_MCS_WRAPPER: "/nonexistent/ceph-mcs/ceph-mcs-exec" },
    says: [is("CEPH_MCS_WRAPPER", "/nonexistent/ceph-mcs/ceph-mcs-exec"), "outside CEPH_MCS_DIR"],
  },
  { name: "LOG_LEVEL verbose", env: { LOG_LEVEL: "verbose" }, says: [is("LOG_LEVEL", "verbose")] },
  {
    name: "several problems are reported at once",
    env: { POD_IP: "", CEPH_MCS_ENABLED: "on", CEPH_MCS_DEADLINE_SECONDS: "5" },
    says: ["POD_IP is not set", is("CEPH_MCS_ENABLED", "on"), is("CEPH_MCS_DEADLINE_SECONDS", "5")],
  },
];

describe("bad env", { concurrency: CONCURRENCY }, () => {
  let s: Scenario;
  before(async () => {
    s = await startScenario();
  });
  after(() => s.stop());

  for (const c of ENV_CASES) {
    test(`${c.name} → exit 2`, async () => {
      assertMisconfigured(await s.run(c.daemon ?? MON, c.env), c.says);
    });
  }
});

// ---------------------------------------------------------------------------------------------------
// The CephCluster as the apiserver stores it, the pod's labels, and which CephCluster is meant.

interface CrInput {
  /** The CephCluster's name; CEPH_MCS_CEPHCLUSTER points at it. */
  name: string;
  mcs: Record<string, unknown>;
  says: string[];
}

const badId = (id: string): string => `${MCS}.clusterID is ${JSON.stringify(id)} (string)`;

const CR_CASES: CrInput[] = [
  {
    name: "enabled-empty-id",
    mcs: { enabled: true, clusterID: "" },
    says: [`${MCS}.clusterID is "" while enabled is true`],
  },
  {
    name: "enabled-no-id",
    mcs: { enabled: true },
    says: [`${MCS}.clusterID is missing while enabled is true`],
  },
  // Unknown fields are pruned by the apiserver: the typo arrives as a missing clusterID.
  {
    name: "typo-clusterid",
    mcs: { enabled: true, clusterId: "cluster-a" },
    says: [`${MCS}.clusterID is missing while enabled is true`],
  },
  // null is pruned too (the field is not nullable).
  {
    name: "null-clusterid",
    mcs: { enabled: true, clusterID: null },
    says: [`${MCS}.clusterID is missing while enabled is true`],
  },
  {
    name: "upper-id",
    mcs: { enabled: true, clusterID: "Cluster-A" },
    says: [badId("Cluster-A"), "RFC-1123"],
  },
  { name: "underscore-id", mcs: { enabled: true, clusterID: "cluster_a" }, says: [badId("cluster_a")] },
  { name: "dotted-id", mcs: { enabled: true, clusterID: "cluster.a" }, says: [badId("cluster.a")] },
  { name: "long-id", mcs: { enabled: true, clusterID: "c".repeat(64) }, says: [badId("c".repeat(64))] },
  { name: "leading-dash-id", mcs: { enabled: true, clusterID: "-cluster" }, says: [badId("-cluster")] },
  { name: "unicode-id", mcs: { enabled: true, clusterID: "clüster" }, says: [badId("clüster")] },
];

interface PodInput {
  name: string;
  labels: Record<string, string>;
  says: string[];
}

const POD_CASES: PodInput[] = [
  {
    name: "label-type-mgr",
    labels: { ceph_daemon_type: "mgr", ceph_daemon_id: "a" },
    says: ['pod label ceph_daemon_type="mgr"', "one of mon, osd"],
  },
  {
    name: "label-id-upper",
    labels: { ceph_daemon_type: "mon", ceph_daemon_id: "A" },
    says: ['pod label ceph_daemon_id="A"', "mon id"],
  },
  {
    name: "no-rook-labels",
    labels: {},
    says: ["daemon type unknown: set CEPH_MCS_DAEMON_TYPE", "daemon id unknown: set CEPH_MCS_DAEMON_ID"],
  },
];

async function createCephCluster(s: Scenario, name: string, mcs: Record<string, unknown>): Promise<unknown> {
  const api = s.cp.admin().makeApiClient(CustomObjectsApi);
  const body = {
    apiVersion: "ceph.rook.io/v1",
    kind: "CephCluster",
    metadata: { name },
    spec: { network: { multiClusterService: mcs } },
  };
  await api.createNamespacedCustomObject({ ...CEPH, namespace: s.ns, body });
  return api.getNamespacedCustomObject({ ...CEPH, namespace: s.ns, name });
}

async function createPod(s: Scenario, p: PodInput): Promise<void> {
  await s.cp
    .admin()
    .makeApiClient(CoreV1Api)
    .createNamespacedPod({
      namespace: s.ns,
      body: {
        metadata: { name: p.name, labels: p.labels },
        spec: { containers: [{ name: "c", image: "ceph" }] },
      },
    });
}

describe("bad CephCluster contents and pod labels", { concurrency: CONCURRENCY }, () => {
  let s: Scenario;
  const stored = new Map<string, unknown>();
  before(async () => {
    s = await startScenario();
    for (const c of CR_CASES) stored.set(c.name, await createCephCluster(s, c.name, c.mcs));
    for (const p of POD_CASES) await createPod(s, p);
  });
  after(() => s.stop());

  test("the apiserver prunes unknown and null fields: those CephClusters arrive without clusterID", () => {
    for (const name of ["typo-clusterid", "null-clusterid"]) {
      const spec = (stored.get(name) as { spec: unknown }).spec;
      assert.deepEqual(spec, { network: { multiClusterService: { enabled: true } } }, name);
    }
  });

  for (const c of CR_CASES) {
    test(`CephCluster ${c.name} → exit 2`, async () => {
      const run = await s.run(MON, { CEPH_MCS_CEPHCLUSTER: c.name });
      assertMisconfigured(run, [`CephCluster ${s.ns}/${c.name}: `, ...c.says]);
    });
  }

  for (const p of POD_CASES) {
    test(`pod ${p.name}, type and id from labels → exit 2`, async () => {
      const env = { POD_NAME: p.name, CEPH_MCS_DAEMON_TYPE: "", CEPH_MCS_DAEMON_ID: "" };
      assertMisconfigured(await s.run(MON, env), p.says);
    });
  }

  test("CEPH_MCS_CEPHCLUSTER unset with several CephClusters in the namespace → exit 2", async () => {
    const run = await s.run(MON, { CEPH_MCS_CEPHCLUSTER: "" });
    assertMisconfigured(run, [
      `found ${CR_CASES.length + 1} CephClusters in namespace ${s.ns}`,
      "set CEPH_MCS_CEPHCLUSTER",
    ]);
  });

  test("CephCluster namespace outside the Role's namespace → exit 2 (forbidden, named)", async () => {
    const run = await s.run(MON, { CEPH_MCS_CEPHCLUSTER_NAMESPACE: "kube-system" });
    assertMisconfigured(run, ["CephCluster kube-system/my-cluster", "forbidden"]);
  });

  test("CEPH_MCS_CEPHCLUSTER naming no CephCluster → exit 2 with the name", async () => {
    const run = await s.run(MON, { CEPH_MCS_CEPHCLUSTER: "does-not-exist" });
    assertMisconfigured(run, [`CephCluster ${s.ns}/does-not-exist`, "not found"]);
  });
});

test("no CephCluster in the namespace → exit 2", async () => {
  await withScenario({}, async (s) => {
    const api = s.cp.admin().makeApiClient(CustomObjectsApi);
    await api.deleteNamespacedCustomObject({ ...CEPH, namespace: s.ns, name: "my-cluster" });
    const run = await s.run(MON, { CEPH_MCS_CEPHCLUSTER: "" });
    assertMisconfigured(run, [`found no CephCluster in namespace ${s.ns}`]);
  });
});

test("CRD schema: these shapes never reach the agent (422 from the apiserver)", async () => {
  await withScenario({}, async (s) => {
    const shapes: Record<string, unknown>[] = [
      { multiClusterService: { enabled: "true", clusterID: "cluster-a" } },
      { multiClusterService: { enabled: true, clusterID: 7 } },
      { multiClusterService: "enabled" },
      { multiClusterService: [] },
      { connections: { requireMsgr2: "yes" } },
    ];
    for (const [i, network] of shapes.entries()) {
      const api = s.cp.admin().makeApiClient(CustomObjectsApi);
      const body = {
        apiVersion: "ceph.rook.io/v1",
        kind: "CephCluster",
        metadata: { name: `shape-${i}` },
        spec: { network },
      };
      await assert.rejects(
        api.createNamespacedCustomObject({ ...CEPH, namespace: s.ns, body }),
        (err: { code?: number }) => err.code === 422,
        JSON.stringify(network),
      );
    }
  });
});

// ---------------------------------------------------------------------------------------------------
// DNS answers: Globalnet's GlobalIngressIP and the Lighthouse EndpointSlice carry the right address;
// the scripted DNS server answers the cluster-specific name with something else.

interface DnsCase {
  name: string;
  /** The answer, given the address the other sources carry. */
  reply: (globalIp: string) => DnsReply;
  env?: Record<string, string>;
  says: string[];
}

const addresses = (...list: string[]): DnsReply => ({ kind: "addresses", addresses: list });
const special = (ip: string, kind: string): DnsCase => ({
  name: `${kind} ${ip}`,
  reply: () => addresses(ip),
  says: ["SpecialAddress", `dns reports ${ip}, a ${kind} address`],
});

const DNS_CASES: DnsCase[] = [
  special("127.0.0.1", "loopback"),
  special("0.0.0.0", "unspecified"),
  special("224.0.0.1", "multicast"),
  special("169.254.1.1", "link-local"),
  special("255.255.255.255", "broadcast"),
  // Decoys at the low end of the pool: the emulator allocates the highest free address, so a decoy
  // near the top could be the address it really gave (then there is no ambiguity at all).
  {
    name: "two A records",
    reply: (ip) => addresses(ip, "242.0.1.9"),
    says: ["Ambiguous", "dns reports several addresses", "242.0.1.9"],
  },
  {
    name: "three A records",
    reply: (ip) => addresses("242.0.1.8", ip, "242.0.1.9"),
    says: ["Ambiguous", "242.0.1.8", "242.0.1.9"],
  },
  {
    name: "an address outside CEPH_MCS_GLOBAL_CIDRS",
    reply: () => addresses("10.9.9.9"),
    env: { CEPH_MCS_GLOBAL_CIDRS: "242.0.0.0/8" },
    says: ["OutsideGlobalCidr", "dns reports 10.9.9.9", "outside the global CIDR (242.0.0.0/8)"],
  },
  {
    name: "another cluster's Globalnet address (outside this cluster's CIDR)",
    reply: () => addresses("242.0.2.5"),
    env: { CEPH_MCS_GLOBAL_CIDRS: "242.0.1.0/24" },
    says: ["OutsideGlobalCidr", "dns reports 242.0.2.5", "(242.0.1.0/24)"],
  },
];

interface DnsRun {
  run: AgentRun;
  questions: number;
}

/** Runs the agent for `d` with a DNS server that answers `reply(the emulator's global IP)`. */
async function runWithDns(s: Scenario, d: Daemon, reply: DnsCase["reply"], env = {}): Promise<DnsRun> {
  const svc = `rook-ceph-${d.type}-${d.id}`;
  const dns = await startUdpResponder(() => reply(s.emulator?.globalIp(s.ns, svc) ?? "242.0.1.1"));
  try {
    const run = await s.run(d, { CEPH_MCS_DNS_SERVERS: dns.server, ...env });
    return { run, questions: dns.questions.length };
  } finally {
    await dns.stop();
  }
}

describe("bad DNS answers (lighthouse-0.21-globalnet)", { concurrency: CONCURRENCY }, () => {
  let s: Scenario;
  before(async () => {
    s = await startScenario({ emulator: GLOBALNET });
  });
  after(() => s.stop());

  // One OSD per case: each has its own Service, export and global IP.
  for (const [i, c] of DNS_CASES.entries()) {
    test(`${c.name} → exit 2`, async () => {
      const { run, questions } = await runWithDns(s, { type: "osd", id: String(i) }, c.reply, c.env);
      assert.ok(questions > 0, "the scripted DNS server was asked");
      assertMisconfigured(run, c.says);
    });
  }

  test("the Service's own ClusterIP although Globalnet is in use → exit 2", async () => {
    const mon: Daemon = { type: "mon", id: "b" };
    const first = await s.run(mon);
    assert.equal(first.code, 0, lastLog(first));
    const core = s.cp.admin().makeApiClient(CoreV1Api);
    const svc = await core.readNamespacedService({ namespace: s.ns, name: "rook-ceph-mon-b" });
    const clusterIP = svc.spec?.clusterIP ?? "";
    const { run } = await runWithDns(s, mon, () => addresses(clusterIP));
    assertMisconfigured(run, ["ServiceClusterIP", `dns reports ${clusterIP}, the Service's own ClusterIP`]);
  });

  // Not misconfigurations — asserted as what really happens, not counted.

  test("an AAAA record answering the A question: c-ares sees NODATA, the other sources carry it (exit 0)", async () => {
    const { run } = await runWithDns(s, { type: "osd", id: "50" }, () => addresses("fd00:242::1"));
    assert.equal(run.code, 0, lastLog(run));
    assert.equal(run.publicAddr, s.emulator?.globalIp(s.ns, "rook-ceph-osd-50"));
    const dns = run.result?.sources.find((x) => x.name === "dns");
    assert.equal(dns?.agreed, false);
    assert.match(dns.detail ?? "", /NODATA/);
  });

  test("a malformed reply is retryable (EBADRESP): retried until the deadline, exit 3", async () => {
    const { run } = await runWithDns(s, { type: "osd", id: "51" }, () => ({ kind: "malformed" }), {
      CEPH_MCS_DEADLINE_SECONDS: "10",
    });
    assert.equal(run.code, 3, lastLog(run));
    assert.equal(run.publicAddr, undefined);
    assert.match(run.terminationMessage ?? "", /EBADRESP, malformed response/);
  });
});

test("at least 40 bad inputs end in exit 2", () => {
  const counted = {
    env: ENV_CASES.length,
    // + several CephClusters unnamed, a forbidden namespace, a missing name, none in the namespace
    cephCluster: CR_CASES.length + 4,
    podLabels: POD_CASES.length,
    dns: DNS_CASES.length + 1, // + the Service's ClusterIP
  };
  const total = Object.values(counted).reduce((a, b) => a + b, 0);
  assert.ok(total >= 40, JSON.stringify(counted));
});
