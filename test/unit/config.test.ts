import { test } from "node:test";
import assert from "node:assert/strict";
import {
  ENV_VARS,
  loadInitEnv,
  logSettings,
  parseCephCluster,
  resolveInitConfig,
  type CephClusterMcs,
  type Env,
  type InitEnv,
} from "../../agent/config.ts";
import { ConfigError } from "../../agent/errors.ts";

const BASE: Env = { POD_NAME: "rook-ceph-mon-a-7d9f5", POD_NAMESPACE: "rook-ceph", POD_IP: "10.244.1.7" };
const MON_A: Env = { ...BASE, CEPH_MCS_DAEMON_TYPE: "mon", CEPH_MCS_DAEMON_ID: "a" };

const CLUSTER: CephClusterMcs = {
  name: "my-cluster",
  namespace: "rook-ceph",
  uid: "0b6c-uid",
  enabled: true,
  clusterID: "cluster1",
  requireMsgr2: false,
};

function cr(spec?: unknown, metadata: unknown = { name: "my-cluster", namespace: "rook-ceph", uid: "u-1" }) {
  return { apiVersion: "ceph.rook.io/v1", kind: "CephCluster", metadata, spec };
}
const REF = { namespace: "rook-ceph", name: "my-cluster" };

/** Asserts a ConfigError whose message contains every fragment. */
function assertConfigError(fn: () => unknown, fragments: readonly string[]): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  for (const f of fragments) assert.ok(caught.message.includes(f), `"${f}" not in: ${caught.message}`);
  return caught;
}

// [what, env on top of MON_A (undefined deletes), fragments the message must contain]
const BAD_ENV: readonly [string, Env, readonly string[]][] = [
  ["POD_NAME missing", { POD_NAME: undefined }, ["POD_NAME is not set", "metadata.name"]],
  ["POD_NAME not a name", { POD_NAME: "Bad_Name" }, ["POD_NAME", '"Bad_Name"', "RFC-1123"]],
  ["POD_NAMESPACE upper case", { POD_NAMESPACE: "Rook-Ceph" }, ["POD_NAMESPACE", '"Rook-Ceph"']],
  ["POD_NAMESPACE missing", { POD_NAMESPACE: undefined }, ["POD_NAMESPACE is not set"]],
  ["POD_IP empty", { POD_IP: "" }, ["POD_IP is not set", "status.podIP"]],
  ["POD_IP short", { POD_IP: "10.0.0" }, ["POD_IP", '"10.0.0"', "IPv4 or IPv6 address"]],
  ["POD_IP a name", { POD_IP: "localhost" }, ["POD_IP", '"localhost"']],
  ["NODE_NAME underscore", { NODE_NAME: "node_1" }, ["NODE_NAME", '"node_1"']],
  ["daemon type rgw", { CEPH_MCS_DAEMON_TYPE: "rgw" }, ["CEPH_MCS_DAEMON_TYPE", '"rgw"', "mon, osd"]],
  ["daemon type upper case", { CEPH_MCS_DAEMON_TYPE: "MON" }, ["CEPH_MCS_DAEMON_TYPE", '"MON"']],
  ["mon id upper case", { CEPH_MCS_DAEMON_ID: "A" }, ["CEPH_MCS_DAEMON_ID", '"A"', "mon id"]],
  ["mon id with digit", { CEPH_MCS_DAEMON_ID: "a1" }, ["CEPH_MCS_DAEMON_ID", '"a1"', "mon id"]],
  ["mon id numeric", { CEPH_MCS_DAEMON_ID: "3" }, ["CEPH_MCS_DAEMON_ID", '"3"', "mon id"]],
  [
    "osd id leading zero",
    { CEPH_MCS_DAEMON_TYPE: "osd", CEPH_MCS_DAEMON_ID: "01" },
    ['"01"', "leading zeros"],
  ],
  [
    "osd id negative",
    { CEPH_MCS_DAEMON_TYPE: "osd", CEPH_MCS_DAEMON_ID: "-1" },
    ["CEPH_MCS_DAEMON_ID", '"-1"'],
  ],
  ["osd id letters", { CEPH_MCS_DAEMON_TYPE: "osd", CEPH_MCS_DAEMON_ID: "a" }, ['"a"', "OSD id"]],
  ["osd id > int32", { CEPH_MCS_DAEMON_TYPE: "osd", CEPH_MCS_DAEMON_ID: "2147483648" }, ['"2147483648"']],
  [
    "id of no kind",
    { CEPH_MCS_DAEMON_TYPE: undefined, CEPH_MCS_DAEMON_ID: "a.b" },
    ['CEPH_MCS_DAEMON_ID="a.b"'],
  ],
  ["CephCluster name", { CEPH_MCS_CEPHCLUSTER: "My_Cluster" }, ["CEPH_MCS_CEPHCLUSTER", '"My_Cluster"']],
  ["CephCluster ns", { CEPH_MCS_CEPHCLUSTER_NAMESPACE: "a.b" }, ["CEPH_MCS_CEPHCLUSTER_NAMESPACE", '"a.b"']],
  ["enabled yes", { CEPH_MCS_ENABLED: "yes" }, ["CEPH_MCS_ENABLED", '"yes"', "true or false"]],
  ["enabled 1", { CEPH_MCS_ENABLED: "1" }, ["CEPH_MCS_ENABLED", '"1"']],
  ["clusterID upper", { CEPH_MCS_CLUSTER_ID: "Cluster1" }, ["CEPH_MCS_CLUSTER_ID", '"Cluster1"', "RFC-1123"]],
  ["clusterID leading -", { CEPH_MCS_CLUSTER_ID: "-c1" }, ["CEPH_MCS_CLUSTER_ID", '"-c1"']],
  ["clusterID trailing -", { CEPH_MCS_CLUSTER_ID: "c1-" }, ["CEPH_MCS_CLUSTER_ID", '"c1-"']],
  ["clusterID 64 chars", { CEPH_MCS_CLUSTER_ID: "c".repeat(64) }, ["CEPH_MCS_CLUSTER_ID", "c".repeat(64)]],
  ["clusterID underscore", { CEPH_MCS_CLUSTER_ID: "c_1" }, ["CEPH_MCS_CLUSTER_ID", '"c_1"']],
  ["clusterID dotted", { CEPH_MCS_CLUSTER_ID: "c1.east" }, ["CEPH_MCS_CLUSTER_ID", '"c1.east"']],
  ["pod uid not a uid", { POD_UID: "nope" }, ["POD_UID", '"nope"']],
  [
    "zone empty label",
    { CEPH_MCS_ZONE: "clusterset..local" },
    ["CEPH_MCS_ZONE", '"clusterset..local"', "DNS"],
  ],
  ["zone leading -", { CEPH_MCS_ZONE: "-x.local" }, ["CEPH_MCS_ZONE", '"-x.local"']],
  ["zone underscore", { CEPH_MCS_ZONE: "a_b.local" }, ["CEPH_MCS_ZONE", '"a_b.local"']],
  [
    "cidr no prefix",
    { CEPH_MCS_GLOBAL_CIDRS: "242.0.0.0" },
    ["CEPH_MCS_GLOBAL_CIDRS", '"242.0.0.0"', "CIDR"],
  ],
  [
    "cidr v4 /33",
    { CEPH_MCS_GLOBAL_CIDRS: "242.0.0.0/33" },
    ["CEPH_MCS_GLOBAL_CIDRS", '"242.0.0.0/33"', "0 to 32"],
  ],
  ["cidr v6 /129", { CEPH_MCS_GLOBAL_CIDRS: "fd00::/129" }, ['"fd00::/129"', "0 to 128"]],
  [
    "cidr empty item",
    { CEPH_MCS_GLOBAL_CIDRS: "242.0.0.0/8,,10.0.0.0/8" },
    ["CEPH_MCS_GLOBAL_CIDRS", 'item ""'],
  ],
  ["cidr /08", { CEPH_MCS_GLOBAL_CIDRS: "242.0.0.0/08" }, ['"242.0.0.0/08"']],
  ["cidr two slashes", { CEPH_MCS_GLOBAL_CIDRS: "242.0.0.0/8/1" }, ['"242.0.0.0/8/1"']],
  ["cidr bad address", { CEPH_MCS_GLOBAL_CIDRS: "242.0.0/8" }, ['"242.0.0/8"']],
  ["dns name", { CEPH_MCS_DNS_SERVERS: "dns.local" }, ["CEPH_MCS_DNS_SERVERS", '"dns.local"']],
  ["dns port 0", { CEPH_MCS_DNS_SERVERS: "10.0.0.10:0" }, ["CEPH_MCS_DNS_SERVERS", '"10.0.0.10:0"', "port"]],
  ["dns port 65536", { CEPH_MCS_DNS_SERVERS: "10.0.0.10:65536" }, ['"10.0.0.10:65536"', "port"]],
  ["dns v4 in brackets", { CEPH_MCS_DNS_SERVERS: "[10.0.0.10]:53" }, ['"[10.0.0.10]:53"']],
  ["dns v6 bad port", { CEPH_MCS_DNS_SERVERS: "[fd00::10]:x" }, ['"[fd00::10]:x"', "port"]],
  ["dns two ports", { CEPH_MCS_DNS_SERVERS: "10.0.0.10:53:53" }, ['"10.0.0.10:53:53"']],
  ["dns second item", { CEPH_MCS_DNS_SERVERS: "10.0.0.10, 10.0.0.300" }, ['item "10.0.0.300"']],
  [
    "timeout letters",
    { CEPH_MCS_DNS_TIMEOUT_MS: "abc" },
    ["CEPH_MCS_DNS_TIMEOUT_MS", '"abc"', "100 to 60000"],
  ],
  ["timeout zero", { CEPH_MCS_DNS_TIMEOUT_MS: "0" }, ["CEPH_MCS_DNS_TIMEOUT_MS", '"0"']],
  ["timeout too small", { CEPH_MCS_DNS_TIMEOUT_MS: "50" }, ["CEPH_MCS_DNS_TIMEOUT_MS", '"50"']],
  ["timeout fraction", { CEPH_MCS_DNS_TIMEOUT_MS: "2000.5" }, ['"2000.5"']],
  ["deadline negative", { CEPH_MCS_DEADLINE_SECONDS: "-5" }, ["CEPH_MCS_DEADLINE_SECONDS", '"-5"']],
  ["deadline exponent", { CEPH_MCS_DEADLINE_SECONDS: "1e3" }, ["CEPH_MCS_DEADLINE_SECONDS", '"1e3"']],
  ["deadline leading zero", { CEPH_MCS_DEADLINE_SECONDS: "0600" }, ["CEPH_MCS_DEADLINE_SECONDS", '"0600"']],
  ["deadline too long", { CEPH_MCS_DEADLINE_SECONDS: "100000" }, ['"100000"', "10 to 86400"]],
  ["warn blank", { CEPH_MCS_WARN_AFTER_SECONDS: " 60" }, ["CEPH_MCS_WARN_AFTER_SECONDS", '" 60"']],
  ["grace too long", { CEPH_MCS_READY_GRACE_SECONDS: "3601" }, ["CEPH_MCS_READY_GRACE_SECONDS", '"3601"']],
  ["msgr2 on", { CEPH_MCS_MSGR2_ONLY: "on" }, ["CEPH_MCS_MSGR2_ONLY", '"on"', "true or false"]],
  ["family ipv4", { CEPH_MCS_IP_FAMILY: "ipv4" }, ["CEPH_MCS_IP_FAMILY", '"ipv4"', "4 or 6"]],
  ["family 46", { CEPH_MCS_IP_FAMILY: "46" }, ["CEPH_MCS_IP_FAMILY", '"46"']],
  ["dir relative", { CEPH_MCS_DIR: "run/ceph-mcs" }, ["CEPH_MCS_DIR", '"run/ceph-mcs"', "absolute path"]],
  ["wrapper relative", { CEPH_MCS_WRAPPER: "ceph-mcs-exec" }, ["CEPH_MCS_WRAPPER", '"ceph-mcs-exec"']],
  ["termination log", { CEPH_MCS_TERMINATION_LOG: "log" }, ["CEPH_MCS_TERMINATION_LOG", '"log"']],
  ["kubeconfig relative", { KUBECONFIG: "kube/config" }, ["KUBECONFIG", '"kube/config"']],
  ["log level verbose", { LOG_LEVEL: "verbose" }, ["LOG_LEVEL", '"verbose"', "trace"]],
  ["pretty 1", { CEPH_MCS_LOG_PRETTY: "1" }, ["CEPH_MCS_LOG_PRETTY", '"1"']],
  ["typo", { CEPH_MCS_ZONES: "x.local" }, ["CEPH_MCS_ZONES", "unknown", "did you mean CEPH_MCS_ZONE?"]],
  ["unknown", { CEPH_MCS_FOO_BAR_BAZ: "1" }, ["CEPH_MCS_FOO_BAR_BAZ", "known: CEPH_MCS_DAEMON_TYPE"]],
  [
    "warn after the deadline",
    { CEPH_MCS_WARN_AFTER_SECONDS: "700" },
    ["CEPH_MCS_WARN_AFTER_SECONDS=700", "CEPH_MCS_DEADLINE_SECONDS=600"],
  ],
  [
    "grace as long as the deadline",
    {
      CEPH_MCS_READY_GRACE_SECONDS: "60",
      CEPH_MCS_DEADLINE_SECONDS: "60",
      CEPH_MCS_WARN_AFTER_SECONDS: "10",
    },
    ["CEPH_MCS_READY_GRACE_SECONDS=60", "CEPH_MCS_DEADLINE_SECONDS=60"],
  ],
  [
    "dns timeout beyond the deadline",
    {
      CEPH_MCS_DNS_TIMEOUT_MS: "30000",
      CEPH_MCS_DEADLINE_SECONDS: "20",
      CEPH_MCS_WARN_AFTER_SECONDS: "10",
      CEPH_MCS_READY_GRACE_SECONDS: "5",
    },
    ["CEPH_MCS_DNS_TIMEOUT_MS=30000", "CEPH_MCS_DEADLINE_SECONDS=20"],
  ],
  [
    "wrapper inside the dir",
    { CEPH_MCS_WRAPPER: "/run/ceph-mcs/ceph-mcs-exec" },
    ["CEPH_MCS_WRAPPER", '"/run/ceph-mcs/ceph-mcs-exec"', "outside CEPH_MCS_DIR"],
  ],
];

for (const [what, overrides, fragments] of BAD_ENV) {
  test(`env: ${what} is a ConfigError`, () => {
    const err = assertConfigError(() => loadInitEnv({ ...MON_A, ...overrides }), fragments);
    assert.equal(err.problems.length, 1, err.problems.join("\n"));
  });
}

test("env: every problem is reported at once", () => {
  const env = { POD_IP: "x", CEPH_MCS_ENABLED: "maybe", CEPH_MCS_ZONE: "..", CEPH_MCS_TYPO: "1" };
  const err = assertConfigError(
    () => loadInitEnv(env),
    ["POD_NAME", "POD_NAMESPACE", "POD_IP", "CEPH_MCS_ENABLED"],
  );
  assert.equal(err.problems.length, 6, err.problems.join("\n"));
  assert.equal(err.kind, "permanent");
});

test("env: defaults", () => {
  const env = loadInitEnv(BASE);
  assert.deepEqual(env, {
    pod: {
      name: "rook-ceph-mon-a-7d9f5",
      namespace: "rook-ceph",
      ip: "10.244.1.7",
      ipFamily: 4,
      node: undefined,
      uid: undefined,
    },
    daemon: { type: undefined, id: undefined },
    cephCluster: { name: undefined, namespace: "rook-ceph" },
    enabled: undefined,
    clusterID: undefined,
    zone: "clusterset.local",
    globalCidrs: [],
    dnsServers: [],
    dnsTimeoutMs: 2000,
    deadlineSeconds: 600,
    warnAfterSeconds: 60,
    readyGraceSeconds: 30,
    msgr2Only: undefined,
    ipFamily: undefined,
    dir: "/run/ceph-mcs",
    wrapper: "/usr/local/bin/ceph-mcs-exec",
    terminationLog: "/dev/termination-log",
    kubeconfig: undefined,
    logLevel: "info",
    logPretty: false,
  } satisfies InitEnv);
});

test("env: every variable set to a valid value", () => {
  const env = loadInitEnv({
    POD_NAME: "rook-ceph-osd-12-abc",
    POD_NAMESPACE: "ceph",
    POD_IP: "fd00:10::7",
    NODE_NAME: "worker-1.example.com",
    POD_UID: "0f9b1c2e-1111-4a4a-8b8b-0123456789ab",
    CEPH_MCS_DAEMON_TYPE: "osd",
    CEPH_MCS_DAEMON_ID: "12",
    CEPH_MCS_CEPHCLUSTER: "east",
    CEPH_MCS_CEPHCLUSTER_NAMESPACE: "rook-ceph",
    CEPH_MCS_ENABLED: "TRUE",
    CEPH_MCS_CLUSTER_ID: "east-1",
    CEPH_MCS_ZONE: "ClusterSet.Example.",
    CEPH_MCS_GLOBAL_CIDRS: "242.0.0.0/8, fd00:242::/64",
    CEPH_MCS_DNS_SERVERS: "10.96.0.10,10.96.0.11:5353,fd00::53,[fd00::54]:53,[fd00::55]",
    CEPH_MCS_DNS_TIMEOUT_MS: "1500",
    CEPH_MCS_DEADLINE_SECONDS: "900",
    CEPH_MCS_WARN_AFTER_SECONDS: "120",
    CEPH_MCS_READY_GRACE_SECONDS: "45",
    CEPH_MCS_MSGR2_ONLY: "False",
    CEPH_MCS_IP_FAMILY: "6",
    CEPH_MCS_DIR: "/var/run/mcs/",
    CEPH_MCS_WRAPPER: "/opt/bin//ceph-mcs-exec",
    CEPH_MCS_TERMINATION_LOG: "/tmp/term",
    KUBECONFIG: "/root/.kube/config",
    LOG_LEVEL: "DEBUG",
    CEPH_MCS_LOG_PRETTY: "true",
    HOME: "/root", // unrelated variables are ignored
  });
  assert.deepEqual(env.pod, {
    name: "rook-ceph-osd-12-abc",
    namespace: "ceph",
    ip: "fd00:10::7",
    ipFamily: 6,
    node: "worker-1.example.com",
    uid: "0f9b1c2e-1111-4a4a-8b8b-0123456789ab",
  });
  assert.deepEqual(env.daemon, { type: "osd", id: "12" });
  assert.deepEqual(env.cephCluster, { name: "east", namespace: "rook-ceph" });
  assert.equal(env.enabled, true);
  assert.equal(env.zone, "clusterset.example");
  assert.deepEqual(env.globalCidrs, [
    { address: "242.0.0.0", prefix: 8, family: 4 },
    { address: "fd00:242::", prefix: 64, family: 6 },
  ]);
  assert.deepEqual(
    env.dnsServers.map((s) => s.server),
    ["10.96.0.10:53", "10.96.0.11:5353", "[fd00::53]:53", "[fd00::54]:53", "[fd00::55]:53"],
  );
  assert.deepEqual(env.dnsServers[1], {
    address: "10.96.0.11",
    port: 5353,
    family: 4,
    server: "10.96.0.11:5353",
  });
  assert.equal(env.msgr2Only, false);
  assert.equal(env.ipFamily, 6);
  assert.equal(env.dir, "/var/run/mcs");
  assert.equal(env.wrapper, "/opt/bin/ceph-mcs-exec");
  assert.equal(env.kubeconfig, "/root/.kube/config");
  assert.equal(env.logLevel, "debug");
  assert.equal(env.logPretty, true);
  assert.equal(
    env.dnsTimeoutMs + env.deadlineSeconds + env.warnAfterSeconds + env.readyGraceSeconds,
    1500 + 900 + 120 + 45,
  );
});

test('env: empty values count as unset (Kubernetes `value: ""`)', () => {
  const env = loadInitEnv({
    ...BASE,
    CEPH_MCS_ENABLED: "",
    CEPH_MCS_ZONE: "",
    CEPH_MCS_DAEMON_ID: "",
    NODE_NAME: "",
  });
  assert.equal(env.enabled, undefined);
  assert.equal(env.zone, "clusterset.local");
  assert.equal(env.daemon.id, undefined);
  assert.equal(env.pod.node, undefined);
});

test("env: a daemon id is accepted without a type when it fits either form", () => {
  assert.equal(loadInitEnv({ ...BASE, CEPH_MCS_DAEMON_ID: "aa" }).daemon.id, "aa");
  assert.equal(loadInitEnv({ ...BASE, CEPH_MCS_DAEMON_ID: "0" }).daemon.id, "0");
});

test("ENV_VARS documents every variable once, and each is accepted", () => {
  const names = ENV_VARS.map((v) => v.name);
  assert.equal(new Set(names).size, names.length);
  for (const v of ENV_VARS) assert.ok(v.meaning.length > 0, v.name);
  assert.deepEqual(
    ENV_VARS.filter((v) => v.required).map((v) => v.name),
    ["POD_NAME", "POD_NAMESPACE", "POD_IP"],
  );
  // Any CEPH_MCS_* name not in the table is rejected, so the table and the parser cannot drift.
  const err = assertConfigError(() => loadInitEnv({ ...BASE, CEPH_MCS_NOPE: "1" }), []);
  for (const n of names.filter((x) => x.startsWith("CEPH_MCS_"))) assert.ok(err.message.includes(n), n);
});

test("logSettings is lenient and binds pod, namespace, daemon", () => {
  assert.deepEqual(logSettings({ ...MON_A, LOG_LEVEL: "Warn", CEPH_MCS_LOG_PRETTY: "true" }), {
    level: "warn",
    pretty: true,
    bindings: { pod: "rook-ceph-mon-a-7d9f5", namespace: "rook-ceph", daemon: "mon.a" },
  });
  const fallback = logSettings({ LOG_LEVEL: "loud", CEPH_MCS_LOG_PRETTY: "y", CEPH_MCS_DAEMON_TYPE: "osd" });
  assert.deepEqual(fallback, {
    level: "info",
    pretty: false,
    bindings: { pod: undefined, namespace: undefined, daemon: "osd" },
  });
});

// ---------------------------------------------------------------------------------------------

// [what, object, fragments]
const BAD_CR: readonly [string, unknown, readonly string[]][] = [
  ["null", null, ["CephCluster rook-ceph/my-cluster", "is null (null)", "expected a CephCluster object"]],
  ["a string", "cluster", ['"cluster" (string)']],
  ["an array", [], ["[] (array)"]],
  ["no metadata", { kind: "CephCluster", spec: {} }, ["metadata is missing"]],
  ["metadata a string", cr({}, "m"), ['metadata is "m" (string): expected an object']],
  ["no uid", cr({}, { name: "my-cluster" }), ["metadata.uid is missing"]],
  [
    "uid a number",
    cr({}, { name: "my-cluster", uid: 42 }),
    ["metadata.uid is 42 (number): expected a string"],
  ],
  ["no name", cr({}, { uid: "u" }), ["metadata.name is missing"]],
  ["wrong kind", { ...cr({}), kind: "Pod" }, ['kind is "Pod"', '"CephCluster"']],
  ["other name", cr({}, { name: "other", uid: "u" }), ['metadata.name is "other"', '"my-cluster"']],
  [
    "other namespace",
    cr({}, { name: "my-cluster", namespace: "x", uid: "u" }),
    ['metadata.namespace is "x"'],
  ],
  ["spec a string", cr("x"), ['spec is "x" (string): expected an object']],
  ["network an array", cr({ network: [] }), ["spec.network is [] (array): expected an object"]],
  [
    "mcs a string",
    cr({ network: { multiClusterService: "true" } }),
    ["spec.network.multiClusterService is", "(string)"],
  ],
  [
    "mcs a boolean",
    cr({ network: { multiClusterService: true } }),
    ["spec.network.multiClusterService is", "(boolean)"],
  ],
  [
    "enabled a string",
    cr({ network: { multiClusterService: { enabled: "true" } } }),
    ["spec.network.multiClusterService.enabled", "(string)", "a boolean"],
  ],
  [
    "enabled 1",
    cr({ network: { multiClusterService: { enabled: 1 } } }),
    ["multiClusterService.enabled", "1 (number)"],
  ],
  [
    "clusterID a number",
    cr({ network: { multiClusterService: { enabled: true, clusterID: 5 } } }),
    ["multiClusterService.clusterID", "5 (number)", "a string"],
  ],
  [
    "clusterID upper case",
    cr({ network: { multiClusterService: { enabled: true, clusterID: "Cluster1" } } }),
    ["multiClusterService.clusterID", "Cluster1", "RFC-1123"],
  ],
  [
    "clusterID dotted",
    cr({ network: { multiClusterService: { enabled: true, clusterID: "c.1" } } }),
    ["multiClusterService.clusterID", "c.1"],
  ],
  [
    "clusterID empty, enabled",
    cr({ network: { multiClusterService: { enabled: true, clusterID: "" } } }),
    ['clusterID is "" while enabled is true'],
  ],
  [
    "clusterID missing, enabled",
    cr({ network: { multiClusterService: { enabled: true } } }),
    ["clusterID is missing while enabled is true"],
  ],
  ["connections a number", cr({ network: { connections: 3 } }), ["spec.network.connections is", "(number)"]],
  [
    "requireMsgr2 a string",
    cr({ network: { connections: { requireMsgr2: "yes" } } }),
    ["spec.network.connections.requireMsgr2", '"yes"'],
  ],
];

for (const [what, obj, fragments] of BAD_CR) {
  test(`CephCluster: ${what} is a ConfigError`, () => {
    const err = assertConfigError(() => parseCephCluster(obj, REF), fragments);
    assert.equal(err.problems.length, 1, err.problems.join("\n"));
    assert.ok(err.problems[0]?.startsWith("CephCluster rook-ceph/my-cluster"));
  });
}

test("CephCluster: all problems at once", () => {
  const obj = cr(
    { network: { multiClusterService: { enabled: "on", clusterID: "" }, connections: { requireMsgr2: 1 } } },
    { name: "my-cluster" },
  );
  assert.equal(assertConfigError(() => parseCephCluster(obj, REF), []).problems.length, 3);
});

test("CephCluster: a bad clusterID is ignored while MCS is disabled (as Rook does)", () => {
  const obj = cr({ network: { multiClusterService: { enabled: false, clusterID: "Not_A_Label" } } });
  const parsed = parseCephCluster(obj, REF);
  assert.equal(parsed.enabled, false);
  assert.equal(parsed.clusterID, undefined);
});

test("CephCluster: absent multiClusterService reads as disabled (Go zero value); null as absent", () => {
  const expected = {
    name: "my-cluster",
    namespace: "rook-ceph",
    uid: "u-1",
    enabled: false,
    clusterID: undefined,
    requireMsgr2: false,
  };
  assert.deepEqual(parseCephCluster(cr(), REF), expected);
  assert.deepEqual(parseCephCluster(cr({ network: {} }), REF), expected);
  assert.deepEqual(parseCephCluster(cr({ network: { multiClusterService: null } }), REF), expected);
  assert.deepEqual(
    parseCephCluster(cr({ network: { multiClusterService: { enabled: false, clusterID: "" } } }), REF),
    expected,
  );
});

test("CephCluster: enabled, clusterID, requireMsgr2; found by listing (no name in the ref)", () => {
  const obj = cr(
    {
      network: {
        multiClusterService: { enabled: true, clusterID: "cluster1" },
        connections: { requireMsgr2: true },
      },
    },
    { name: "found", uid: "u-2" },
  );
  assert.deepEqual(parseCephCluster(obj, { namespace: "rook-ceph" }), {
    name: "found",
    namespace: "rook-ceph",
    uid: "u-2",
    enabled: true,
    clusterID: "cluster1",
    requireMsgr2: true,
  });
  const disabledWithId = cr({ network: { multiClusterService: { clusterID: "c2" } } });
  assert.equal(parseCephCluster(disabledWithId, REF).clusterID, "c2");
});

// ---------------------------------------------------------------------------------------------

// [what, env on top of BASE, cluster overrides, pod labels, fragments]
const BAD_MERGE: readonly [
  string,
  Env,
  Partial<CephClusterMcs>,
  Record<string, string>,
  readonly string[],
][] = [
  [
    "enabled by env, no clusterID anywhere",
    { CEPH_MCS_ENABLED: "true" },
    { enabled: false, clusterID: undefined },
    { ceph_daemon_type: "mon", ceph_daemon_id: "a" },
    [
      "MCS is enabled (by CEPH_MCS_ENABLED)",
      "no cluster id",
      "CEPH_MCS_CLUSTER_ID",
      "multiClusterService.clusterID",
    ],
  ],
  [
    "daemon type nowhere",
    { CEPH_MCS_DAEMON_ID: "a" },
    {},
    {},
    ["daemon type unknown", "CEPH_MCS_DAEMON_TYPE", "ceph_daemon_type"],
  ],
  [
    "daemon id nowhere",
    { CEPH_MCS_DAEMON_TYPE: "mon" },
    {},
    { app: "rook-ceph-mon" },
    ["daemon id unknown", "ceph_daemon_id"],
  ],
  [
    "label type rgw",
    {},
    {},
    { ceph_daemon_type: "rgw", ceph_daemon_id: "a" },
    ['pod label ceph_daemon_type="rgw"', "mon, osd"],
  ],
  [
    "label osd id 01",
    {},
    {},
    { ceph_daemon_type: "osd", ceph_daemon_id: "01" },
    ['pod label ceph_daemon_id="01"', "OSD id"],
  ],
  [
    "env mon id on an osd pod",
    { CEPH_MCS_DAEMON_ID: "a" },
    {},
    { ceph_daemon_type: "osd" },
    ['CEPH_MCS_DAEMON_ID="a"', "OSD id"],
  ],
  [
    "no CIDR of the global family",
    { ...MON_A, CEPH_MCS_GLOBAL_CIDRS: "242.0.0.0/8", CEPH_MCS_IP_FAMILY: "6" },
    {},
    {},
    ['CEPH_MCS_GLOBAL_CIDRS="242.0.0.0/8"', "IPv6"],
  ],
];

for (const [what, envOverrides, clusterOverrides, labels, fragments] of BAD_MERGE) {
  test(`merge: ${what} is a ConfigError`, () => {
    const env = loadInitEnv({ ...BASE, ...envOverrides });
    const err = assertConfigError(
      () => resolveInitConfig(env, { ...CLUSTER, ...clusterOverrides }, labels),
      fragments,
    );
    assert.equal(err.problems.length, 1, err.problems.join("\n"));
  });
}

test("merge: CephCluster values, labels for identity, derived paths and ms timings", () => {
  const cfg = resolveInitConfig(
    loadInitEnv(BASE),
    { ...CLUSTER, requireMsgr2: true },
    { ceph_daemon_type: "osd", ceph_daemon_id: "3" },
  );
  assert.equal(cfg.enabled, true);
  assert.equal(cfg.clusterID, "cluster1");
  assert.deepEqual(cfg.daemon, { type: "osd", id: "3" });
  assert.equal(cfg.msgr2Only, true);
  assert.equal(cfg.family, 4);
  assert.equal(cfg.familyMismatch, false);
  assert.deepEqual(cfg.cephCluster, { name: "my-cluster", namespace: "rook-ceph", uid: "0b6c-uid" });
  assert.deepEqual(cfg.timing, { deadlineMs: 600_000, warnAfterMs: 60_000, readyGraceMs: 30_000 });
  assert.deepEqual(cfg.dns, { servers: [], timeoutMs: 2000 });
  assert.deepEqual(cfg.paths, {
    dir: "/run/ceph-mcs",
    publicAddr: "/run/ceph-mcs/public-addr",
    resultJson: "/run/ceph-mcs/result.json",
    wrapperSource: "/usr/local/bin/ceph-mcs-exec",
    wrapperCopy: "/run/ceph-mcs/ceph-mcs-exec",
    terminationLog: "/dev/termination-log",
  });
  assert.deepEqual(cfg.sources, {
    enabled: "CephCluster rook-ceph/my-cluster spec.network.multiClusterService.enabled",
    clusterID: "CephCluster rook-ceph/my-cluster spec.network.multiClusterService.clusterID",
    daemonType: "pod label ceph_daemon_type",
    daemonId: "pod label ceph_daemon_id",
    msgr2Only: "CephCluster rook-ceph/my-cluster spec.network.connections.requireMsgr2",
    family: "POD_IP",
  });
  assert.deepEqual(cfg.warnings, []);
  assert.deepEqual(cfg.log, { level: "info", pretty: false });
});

test("merge: env overrides the CephCluster and the labels, each with a warning", () => {
  const env = loadInitEnv({
    ...MON_A,
    CEPH_MCS_ENABLED: "false",
    CEPH_MCS_CLUSTER_ID: "other",
    CEPH_MCS_MSGR2_ONLY: "false",
  });
  const cfg = resolveInitConfig(
    env,
    { ...CLUSTER, requireMsgr2: true },
    { ceph_daemon_type: "osd", ceph_daemon_id: "7" },
  );
  assert.equal(cfg.enabled, false);
  assert.equal(cfg.clusterID, "other");
  assert.deepEqual(cfg.daemon, { type: "mon", id: "a" });
  assert.equal(cfg.msgr2Only, false);
  assert.equal(cfg.sources.enabled, "CEPH_MCS_ENABLED");
  assert.equal(cfg.sources.daemonType, "CEPH_MCS_DAEMON_TYPE");
  assert.equal(cfg.warnings.length, 4, cfg.warnings.join("\n"));
  assert.match(cfg.warnings.join("\n"), /CEPH_MCS_ENABLED=false overrides .*enabled=true/);
  assert.match(cfg.warnings.join("\n"), /CEPH_MCS_CLUSTER_ID="other" overrides .*"cluster1"/);
  assert.match(
    cfg.warnings.join("\n"),
    /CEPH_MCS_DAEMON_TYPE="mon" overrides pod label ceph_daemon_type="osd"/,
  );
});

test("merge: enabled by env with the clusterID from a disabled CephCluster (agent on its own)", () => {
  const env = loadInitEnv({ ...MON_A, CEPH_MCS_ENABLED: "true" });
  const cfg = resolveInitConfig(env, { ...CLUSTER, enabled: false, clusterID: "c9" });
  assert.equal(cfg.enabled, true);
  assert.equal(cfg.clusterID, "c9");
  const id: string = cfg.clusterID; // the union narrows clusterID to string once enabled is true
  assert.equal(id, "c9");
});

test("merge: disabled without any clusterID is fine, and daemon identity is still checked", () => {
  const cfg = resolveInitConfig(loadInitEnv(MON_A), { ...CLUSTER, enabled: false, clusterID: undefined });
  assert.equal(cfg.enabled, false);
  assert.equal(cfg.clusterID, undefined);
  assertConfigError(
    () => resolveInitConfig(loadInitEnv(BASE), { ...CLUSTER, enabled: false }),
    ["daemon type unknown"],
  );
});

test("merge: a family other than POD_IP's is allowed (dual-stack) and flagged", () => {
  const env = loadInitEnv({
    ...MON_A,
    CEPH_MCS_IP_FAMILY: "6",
    CEPH_MCS_GLOBAL_CIDRS: "242.0.0.0/8,fd00:242::/64",
  });
  const cfg = resolveInitConfig(env, CLUSTER);
  assert.equal(cfg.family, 6);
  assert.equal(cfg.familyMismatch, true);
  assert.equal(cfg.sources.family, "CEPH_MCS_IP_FAMILY");
  assert.match(cfg.warnings.join("\n"), /CEPH_MCS_IP_FAMILY=6 differs from POD_IP 10\.244\.1\.7 \(IPv4\)/);
});
