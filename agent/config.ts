// The one typed, validated configuration of init mode, and the only module in agent/ that reads
// `process.env`. Three pure steps: loadInitEnv (env → InitEnv), parseCephCluster (CR → CephClusterMcs),
// resolveInitConfig (both + pod labels → InitConfig). Every step reports all problems at once in
// one ConfigError, so a broken pod patch is fixed in one round trip, not one variable per restart.
import { isIP } from "node:net";
import { posix } from "node:path";
import { ConfigError } from "./errors.ts";
import type { DaemonType, IpFamily } from "./ports.ts";

/** pino's level names. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface EnvVarDoc {
  readonly name: string;
  readonly required: boolean;
  /** Human-readable default for the README; "" when there is none. */
  readonly default: string;
  readonly meaning: string;
}

/** Every variable the agent reads, in README order. The README table is generated from this. */
export const ENV_VARS = [
  { name: "POD_NAME", required: true, default: "", meaning: "the pod's name (Downward API `metadata.name`)" },
  {
    name: "POD_NAMESPACE",
    required: true,
    default: "",
    meaning: "the pod's namespace (Downward API `metadata.namespace`)",
  },
  {
    name: "POD_IP",
    required: true,
    default: "",
    meaning: "the pod's IP (Downward API `status.podIP`); the daemon binds to it",
  },
  {
    name: "POD_UID",
    required: false,
    default: "",
    meaning: "the pod's uid (Downward API `metadata.uid`), so its Events show in `kubectl describe pod`",
  },
  {
    name: "NODE_NAME",
    required: false,
    default: "",
    meaning: "the node's name (Downward API `spec.nodeName`), logged",
  },
  {
    name: "CEPH_MCS_DAEMON_TYPE",
    required: false,
    default: "pod label `ceph_daemon_type`",
    meaning: "`mon` or `osd`",
  },
  {
    name: "CEPH_MCS_DAEMON_ID",
    required: false,
    default: "pod label `ceph_daemon_id`",
    meaning: "mon id (`a`, `b`, … `aa`) or OSD id (`0`, `1`, …)",
  },
  {
    name: "CEPH_MCS_CEPHCLUSTER",
    required: false,
    default: "the only CephCluster in its namespace",
    meaning: "name of the CephCluster whose `spec.network` applies",
  },
  {
    name: "CEPH_MCS_CEPHCLUSTER_NAMESPACE",
    required: false,
    default: "`POD_NAMESPACE`",
    meaning: "namespace of that CephCluster",
  },
  {
    name: "CEPH_MCS_ENABLED",
    required: false,
    default: "CephCluster `spec.network.multiClusterService.enabled`",
    meaning: "`true`/`false`: overrides the CephCluster's switch for this pod",
  },
  {
    name: "CEPH_MCS_CLUSTER_ID",
    required: false,
    default: "CephCluster `spec.network.multiClusterService.clusterID`",
    meaning: "this cluster's MCS cluster id (RFC-1123 label), first label of `<id>.<svc>.<ns>.svc.<zone>`",
  },
  {
    name: "CEPH_MCS_ZONE",
    required: false,
    default: "`clusterset.local`",
    meaning: "DNS zone of the clusterset",
  },
  {
    name: "CEPH_MCS_GLOBAL_CIDRS",
    required: false,
    default: "any address",
    meaning: "comma list of CIDRs the global IP must lie in, e.g. Globalnet's `242.0.0.0/8`",
  },
  {
    name: "CEPH_MCS_DNS_SERVERS",
    required: false,
    default: "the pod's resolvers",
    meaning: "comma list of DNS servers: `ip`, `ip:port`, `[ipv6]:port`",
  },
  {
    name: "CEPH_MCS_DNS_TIMEOUT_MS",
    required: false,
    default: "2000",
    meaning: "timeout of one DNS query (ms)",
  },
  {
    name: "CEPH_MCS_DEADLINE_SECONDS",
    required: false,
    default: "600",
    meaning: "overall deadline of init mode; then it exits with code 3",
  },
  {
    name: "CEPH_MCS_WARN_AFTER_SECONDS",
    required: false,
    default: "60",
    meaning: 'after this long a "still waiting" Event is posted on the pod',
  },
  {
    name: "CEPH_MCS_READY_GRACE_SECONDS",
    required: false,
    default: "30",
    meaning: "how long an export's Ready=False or a failed condition is tolerated",
  },
  {
    name: "CEPH_MCS_MSGR2_ONLY",
    required: false,
    default: "CephCluster `spec.network.connections.requireMsgr2`",
    meaning: "`true`: msgr2 (port 3300) only",
  },
  {
    name: "CEPH_MCS_IP_FAMILY",
    required: false,
    default: "family of `POD_IP`",
    meaning: "`4` or `6`: family of the global IP",
  },
  {
    name: "CEPH_MCS_DIR",
    required: false,
    default: "`/run/ceph-mcs`",
    meaning: "shared emptyDir for `public-addr`, `result.json` and the wrapper",
  },
  {
    name: "CEPH_MCS_WRAPPER",
    required: false,
    default: "`/usr/local/bin/ceph-mcs-exec`",
    meaning: "the wrapper copied into `CEPH_MCS_DIR`",
  },
  {
    name: "CEPH_MCS_TERMINATION_LOG",
    required: false,
    default: "`/dev/termination-log`",
    meaning: "file for the failure reason that `kubectl describe pod` shows",
  },
  {
    name: "KUBECONFIG",
    required: false,
    default: "the pod's ServiceAccount",
    meaning: "absolute path of a kubeconfig file, for running outside a pod",
  },
  { name: "LOG_LEVEL", required: false, default: "`info`", meaning: LOG_LEVELS.join(", ") },
  {
    name: "CEPH_MCS_LOG_PRETTY",
    required: false,
    default: "`false`",
    meaning: "`true`: human-readable log lines instead of JSON",
  },
] as const satisfies readonly EnvVarDoc[];

export type EnvVarName = (typeof ENV_VARS)[number]["name"];

/** Controller mode's own variables (besides POD_NAME, POD_NAMESPACE, CEPH_MCS_CEPHCLUSTER, KUBECONFIG, LOG_LEVEL). */
export const CONTROLLER_ENV_VARS = [
  {
    name: "CEPH_MCS_LEASE_NAME",
    required: false,
    default: "`ceph-mcs-agent-controller`",
    meaning: "the Lease (in the cluster namespace) the controller replicas elect a leader with",
  },
  {
    name: "CEPH_MCS_LEASE_DURATION",
    required: false,
    default: "15",
    meaning: "seconds a leader's lease lasts without renewal (whole seconds)",
  },
  {
    name: "CEPH_MCS_RENEW_DEADLINE",
    required: false,
    default: "10",
    meaning: "seconds the leader keeps trying to renew before it stops acting as leader",
  },
  {
    name: "CEPH_MCS_RETRY_PERIOD",
    required: false,
    default: "2",
    meaning: "seconds between lease attempts (candidates add up to 120 % jitter)",
  },
  {
    name: "CEPH_MCS_LISTEN",
    required: false,
    default: "`0.0.0.0:8080`",
    meaning: "address of `/healthz` and `/metrics`; `off` disables the HTTP server",
  },
  {
    name: "CEPH_MCS_RESYNC_SECONDS",
    required: false,
    default: "30",
    meaning: "full re-check period, besides reacting to watch events",
  },
  {
    name: "CEPH_MCS_CLEANUP_GRACE_SECONDS",
    required: false,
    default: "600",
    meaning: "how long a Service/ServiceExport of a vanished daemon is kept before it is deleted",
  },
  {
    name: "CEPH_MCS_CEPH_COMMAND",
    required: false,
    default: "unset: no ceph CLI",
    meaning:
      "argv prefix of the ceph CLI, space-separated (e.g. `ceph -c /etc/ceph/ceph.conf`); needed to confirm mon addresses in the monmap and to migrate mons",
  },
  {
    name: "CEPH_MCS_CEPH_TIMEOUT_SECONDS",
    required: false,
    default: "30",
    meaning: "timeout of one ceph CLI call",
  },
] as const satisfies readonly EnvVarDoc[];

type AnyEnvVarName = EnvVarName | (typeof CONTROLLER_ENV_VARS)[number]["name"] | WebhookEnvVarName;

export interface ControllerEnv {
  readonly identity: string;
  /** The cluster's namespace (where the controller runs unless CEPH_MCS_CEPHCLUSTER_NAMESPACE says). */
  readonly namespace: string;
  readonly cephClusterName?: string;
  readonly leaseName: string;
  readonly timing: { leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number };
  /** undefined: no HTTP server. */
  readonly listen?: { host: string; port: number };
  readonly resyncMs: number;
  readonly cleanupGraceMs: number;
  readonly cephCommand?: readonly string[];
  readonly cephTimeoutMs: number;
  readonly kubeconfig?: string;
  readonly logLevel: LogLevel;
  readonly logPretty: boolean;
}

function secondsIn(min: number, max: number): Parse<number> {
  return (raw) => {
    const n = Number(raw);
    return /^\d+(\.\d+)?$/.test(raw) && n >= min && n <= max
      ? ok(Math.round(n * 1000))
      : bad(`seconds between ${min} and ${max} (decimals allowed)`);
  };
}

const EXPECT_LISTEN = "host:port (e.g. 0.0.0.0:8080, [::]:8080, :8080) or off";

const parseListen: Parse<{ host: string; port: number } | null> = (raw) => {
  if (raw === "off") return ok(null);
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]*)):(\d{1,5})$/.exec(raw);
  if (!m) return bad(EXPECT_LISTEN);
  const host = m[1] ?? m[2] ?? "";
  const port = Number(m[3]);
  const valid = port < 65536 && (host === "" || isIP(host) !== 0);
  return valid ? ok({ host: host || "0.0.0.0", port }) : bad(EXPECT_LISTEN);
};

const parseArgv: Parse<readonly string[]> = (raw) => {
  const argv = raw.trim().split(/\s+/);
  return argv[0] !== undefined && argv[0] !== ""
    ? ok(argv)
    : bad("a command, e.g. ceph -c /etc/ceph/ceph.conf");
};

export interface StatusEnv {
  readonly namespace: string;
  readonly cephClusterName?: string;
  readonly leaseName: string;
  readonly cephCommand?: readonly string[];
  readonly cephTimeoutMs: number;
  readonly kubeconfig?: string;
}

/** `ceph-mcs-agent status`: which cluster to show (a namespace), and optionally the ceph CLI. */
export function loadStatusEnv(env: Env): StatusEnv {
  const problems: string[] = [];
  const r = makeReader(env, problems);
  const namespace =
    r.opt("CEPH_MCS_CEPHCLUSTER_NAMESPACE", parseNamespace) ?? r.req("POD_NAMESPACE", parseNamespace, "");
  const cephCommand = r.opt("CEPH_MCS_CEPH_COMMAND", parseArgv);
  const cfg: StatusEnv = {
    namespace,
    cephClusterName: r.opt("CEPH_MCS_CEPHCLUSTER", parseObjectName),
    leaseName: r.def("CEPH_MCS_LEASE_NAME", parseObjectName, "ceph-mcs-agent-controller"),
    ...(cephCommand && { cephCommand }),
    cephTimeoutMs: r.def("CEPH_MCS_CEPH_TIMEOUT_SECONDS", secondsIn(1, 600), 30_000),
    kubeconfig: r.opt("KUBECONFIG", parseAbsPath),
  };
  if (problems.length > 0)
    throw new ConfigError(
      problems,
      "set CEPH_MCS_CEPHCLUSTER_NAMESPACE (or POD_NAMESPACE) to the CephCluster's namespace",
    );
  return cfg;
}

/** Parses and validates the environment of controller mode; one ConfigError lists every problem. */
export function loadControllerEnv(env: Env): ControllerEnv {
  const problems: string[] = [];
  const r = makeReader(env, problems);
  // null = `off`, undefined = unset: `??` would turn `off` into the default.
  const asked = r.opt("CEPH_MCS_LISTEN", parseListen);
  const listen = asked === undefined ? { host: "0.0.0.0", port: 8080 } : asked;
  const cephCommand = r.opt("CEPH_MCS_CEPH_COMMAND", parseArgv);
  const cfg: ControllerEnv = {
    identity: r.req("POD_NAME", parseObjectName, ""),
    namespace:
      r.opt("CEPH_MCS_CEPHCLUSTER_NAMESPACE", parseNamespace) ?? r.req("POD_NAMESPACE", parseNamespace, ""),
    cephClusterName: r.opt("CEPH_MCS_CEPHCLUSTER", parseObjectName),
    leaseName: r.def("CEPH_MCS_LEASE_NAME", parseObjectName, "ceph-mcs-agent-controller"),
    timing: {
      leaseDurationMs: r.def("CEPH_MCS_LEASE_DURATION", secondsIn(1, 3600), 15_000),
      renewDeadlineMs: r.def("CEPH_MCS_RENEW_DEADLINE", secondsIn(0.1, 3600), 10_000),
      retryPeriodMs: r.def("CEPH_MCS_RETRY_PERIOD", secondsIn(0.05, 3600), 2_000),
    },
    ...(listen && { listen }),
    resyncMs: r.def("CEPH_MCS_RESYNC_SECONDS", secondsIn(1, 86_400), 30_000),
    cleanupGraceMs: r.def("CEPH_MCS_CLEANUP_GRACE_SECONDS", secondsIn(0, 86_400 * 30), 600_000),
    ...(cephCommand && { cephCommand }),
    cephTimeoutMs: r.def("CEPH_MCS_CEPH_TIMEOUT_SECONDS", secondsIn(1, 600), 30_000),
    kubeconfig: r.opt("KUBECONFIG", parseAbsPath),
    logLevel: r.def("LOG_LEVEL", oneOf(LOG_LEVELS, true), "info"),
    logPretty: r.def("CEPH_MCS_LOG_PRETTY", parseBool, false),
  };
  if (problems.length > 0)
    throw new ConfigError(problems, "fix the controller Deployment's env and restart it");
  return cfg;
}

// ---------------------------------------------------------------------------------------------
// Webhook mode (`ceph-mcs-agent webhook`): the admission server that injects the init container.

/** Webhook mode's own variables (besides CEPH_MCS_LISTEN, POD_NAME, POD_NAMESPACE, KUBECONFIG, LOG_LEVEL). */
export const WEBHOOK_ENV_VARS = [
  {
    name: "CEPH_MCS_WEBHOOK_IMAGE",
    required: true,
    default: "",
    meaning:
      "image of the injected init container (this agent's image, e.g. `ghcr.io/…/ceph-mcs-agent:0.1.0`)",
  },
  {
    name: "CEPH_MCS_WEBHOOK_PULL_POLICY",
    required: false,
    default: "`IfNotPresent`",
    meaning: "imagePullPolicy of the injected init container",
  },
  {
    name: "CEPH_MCS_WEBHOOK_LISTEN",
    required: false,
    default: "`0.0.0.0:8443`",
    meaning: "address of the HTTPS admission endpoints `/inject` and `/inject-if-enabled`",
  },
  {
    name: "CEPH_MCS_WEBHOOK_TLS_DIR",
    required: false,
    default: "`/etc/ceph-mcs-agent/tls`",
    meaning:
      "folder with `tls.crt` and `tls.key` (a mounted `kubernetes.io/tls` Secret); re-read when they change",
  },
] as const satisfies readonly EnvVarDoc[];

type WebhookEnvVarName = (typeof WEBHOOK_ENV_VARS)[number]["name"];

export interface WebhookEnv {
  readonly image: string;
  readonly pullPolicy: "Always" | "IfNotPresent" | "Never";
  readonly listen: { readonly host: string; readonly port: number };
  /** undefined: no HTTP server for /healthz, /readyz, /metrics. */
  readonly http?: { readonly host: string; readonly port: number };
  readonly tlsDir: string;
  readonly pod: { readonly name?: string; readonly namespace?: string };
  readonly kubeconfig?: string;
  readonly logLevel: LogLevel;
  readonly logPretty: boolean;
}

const parseImage: Parse<string> = (raw) =>
  /^[^\s]{1,512}$/.test(raw)
    ? ok(raw)
    : bad("an image reference without spaces, e.g. registry/ceph-mcs-agent:0.1.0");

/** Parses and validates the environment of webhook mode; one ConfigError lists every problem. */
export function loadWebhookEnv(env: Env): WebhookEnv {
  const problems: string[] = [];
  const r = makeReader(env, problems);
  // opt, not def: "off" parses to null, which a default would paper over.
  const httpSet = r.opt("CEPH_MCS_LISTEN", parseListen);
  const http = httpSet === undefined ? { host: "0.0.0.0", port: 8080 } : httpSet;
  const listen = r.opt("CEPH_MCS_WEBHOOK_LISTEN", parseListen);
  if (listen === null)
    problems.push('CEPH_MCS_WEBHOOK_LISTEN="off": expected host:port, the admission server cannot be off');
  const cfg: WebhookEnv = {
    image: r.req("CEPH_MCS_WEBHOOK_IMAGE", parseImage, ""),
    pullPolicy: r.def(
      "CEPH_MCS_WEBHOOK_PULL_POLICY",
      oneOf(["Always", "IfNotPresent", "Never"] as const),
      "IfNotPresent",
    ),
    listen: listen ?? { host: "0.0.0.0", port: 8443 },
    ...(http && { http }),
    tlsDir: r.def("CEPH_MCS_WEBHOOK_TLS_DIR", parseAbsPath, "/etc/ceph-mcs-agent/tls"),
    pod: { name: r.opt("POD_NAME", parseObjectName), namespace: r.opt("POD_NAMESPACE", parseNamespace) },
    kubeconfig: r.opt("KUBECONFIG", parseAbsPath),
    logLevel: r.def("LOG_LEVEL", oneOf(LOG_LEVELS, true), "info"),
    logPretty: r.def("CEPH_MCS_LOG_PRETTY", parseBool, false),
  };
  if (problems.length > 0) throw new ConfigError(problems, "fix the webhook Deployment's env and restart it");
  return cfg;
}
export type Env = Readonly<Record<string, string | undefined>>;

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: IpFamily;
}

export interface DnsServer {
  readonly address: string;
  readonly port: number;
  readonly family: IpFamily;
  /** The form `dns.Resolver#setServers` takes: `1.2.3.4:53`, `[::1]:53`. */
  readonly server: string;
}

export interface PodInfo {
  readonly name: string;
  readonly namespace: string;
  readonly ip: string;
  readonly ipFamily: IpFamily;
  readonly node?: string;
  readonly uid?: string;
}

/** The environment, validated; `undefined` means "not set here, decide later". */
export interface InitEnv {
  readonly pod: PodInfo;
  readonly daemon: { readonly type?: DaemonType; readonly id?: string };
  readonly cephCluster: { readonly name?: string; readonly namespace: string };
  readonly enabled?: boolean;
  readonly clusterID?: string;
  readonly zone: string;
  readonly globalCidrs: readonly Cidr[];
  readonly dnsServers: readonly DnsServer[];
  readonly dnsTimeoutMs: number;
  readonly deadlineSeconds: number;
  readonly warnAfterSeconds: number;
  readonly readyGraceSeconds: number;
  readonly msgr2Only?: boolean;
  readonly ipFamily?: IpFamily;
  readonly dir: string;
  readonly wrapper: string;
  readonly terminationLog: string;
  /** Undefined: in-cluster ServiceAccount. */
  readonly kubeconfig?: string;
  readonly logLevel: LogLevel;
  readonly logPretty: boolean;
}

/** What init mode needs from a CephCluster. */
export interface CephClusterMcs {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string;
  readonly enabled: boolean;
  readonly clusterID?: string;
  readonly requireMsgr2: boolean;
}

/** Where each merged value came from, for logs and result.json. */
export interface ConfigSources {
  readonly enabled: string;
  readonly clusterID: string;
  readonly msgr2Only: string;
  readonly daemonType: string;
  readonly daemonId: string;
  readonly family: string;
}

export interface InitConfigBase {
  readonly pod: PodInfo;
  readonly daemon: { readonly type: DaemonType; readonly id: string };
  readonly cephCluster: { readonly name: string; readonly namespace: string; readonly uid: string };
  readonly msgr2Only: boolean;
  /** Family of the global IP to look up. */
  readonly family: IpFamily;
  /** True when `family` differs from POD_IP's family (dual-stack: global IPv6, pod bound on IPv4 or v.v.). */
  readonly familyMismatch: boolean;
  readonly zone: string;
  readonly globalCidrs: readonly Cidr[];
  readonly dns: { readonly servers: readonly DnsServer[]; readonly timeoutMs: number };
  readonly timing: {
    readonly deadlineMs: number;
    readonly warnAfterMs: number;
    readonly readyGraceMs: number;
  };
  readonly paths: {
    readonly dir: string;
    readonly publicAddr: string;
    readonly resultJson: string;
    /** The wrapper in the image, copied to `wrapperCopy`. */
    readonly wrapperSource: string;
    readonly wrapperCopy: string;
    readonly terminationLog: string;
  };
  readonly log: { readonly level: LogLevel; readonly pretty: boolean };
  readonly sources: ConfigSources;
  /** Legal but noteworthy choices (overrides, conflicts resolved by precedence); log them once. */
  readonly warnings: readonly string[];
}

export type InitConfig = InitConfigBase &
  (
    | { readonly enabled: true; readonly clusterID: string }
    | { readonly enabled: false; readonly clusterID?: string }
  );

// ---------------------------------------------------------------------------------------------
// Value parsers: each returns the value or what was expected instead.

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly expected: string };
type Parse<T> = (raw: string) => Parsed<T>;

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = <T>(expected: string): Parsed<T> => ({ ok: false, expected });

const LABEL_RE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// Rook names mons a, b, … z, aa, …; `rook-ceph-mon-<id>` must stay a 63-character Service name.
const MON_ID_RE = /^[a-z]{1,49}$/;
// Ceph OSD ids are int32; leading zeros would name a different Service than Rook's.
const OSD_ID_RE = /^(0|[1-9][0-9]{0,9})$/;
const OSD_ID_MAX = 2 ** 31 - 1;

const EXPECT_LABEL = "an RFC-1123 label (lowercase letters, digits, '-', at most 63, e.g. cluster1)";
const EXPECT_MON_ID = "a mon id of lowercase letters like Rook's a, b, … aa";
const EXPECT_OSD_ID = "an OSD id: a non-negative integer without leading zeros, like 0 or 12";

function matching(re: RegExp, maxLength: number, expected: string): Parse<string> {
  return (raw) => (raw.length <= maxLength && re.test(raw) ? ok(raw) : bad(expected));
}

const parseLabel = matching(LABEL_RE, 63, EXPECT_LABEL);
const parseNamespace = matching(LABEL_RE, 63, "a Kubernetes namespace name (RFC-1123 label)");
const parseObjectName = matching(SUBDOMAIN_RE, 253, "a Kubernetes object name (RFC-1123 subdomain)");

function oneOf<T extends string>(values: readonly T[], caseInsensitive = false): Parse<T> {
  return (raw) => {
    const v = caseInsensitive ? raw.toLowerCase() : raw;
    const found = values.find((x) => x === v);
    return found === undefined ? bad(`one of ${values.join(", ")}`) : ok(found);
  };
}

const parseBool: Parse<boolean> = (raw) => {
  const v = raw.toLowerCase();
  if (v === "true" || v === "false") return ok(v === "true");
  return bad("true or false");
};

function intIn(min: number, max: number): Parse<number> {
  return (raw) => {
    const n = /^[1-9][0-9]{0,9}$/.test(raw) ? Number(raw) : NaN;
    return n >= min && n <= max ? ok(n) : bad(`a plain integer from ${min} to ${max}`);
  };
}

const parseFamily: Parse<IpFamily> = (raw) =>
  raw === "4" || raw === "6" ? ok(raw === "4" ? 4 : 6) : bad("4 or 6");

interface IpValue {
  readonly address: string;
  readonly family: IpFamily;
}

const parseIp: Parse<IpValue> = (raw) => {
  const family = isIP(raw);
  return family === 0 ? bad("an IPv4 or IPv6 address") : ok({ address: raw, family: family === 4 ? 4 : 6 });
};

const parseOsdId: Parse<string> = (raw) =>
  OSD_ID_RE.test(raw) && Number(raw) <= OSD_ID_MAX ? ok(raw) : bad(EXPECT_OSD_ID);

function daemonIdParser(type: DaemonType | undefined): Parse<string> {
  if (type === "mon") return matching(MON_ID_RE, 49, EXPECT_MON_ID);
  if (type === "osd") return parseOsdId;
  return (raw) => (MON_ID_RE.test(raw) ? ok(raw) : parseOsdId(raw));
}

/** A DNS name; a trailing dot is allowed and dropped, case is folded. */
const parseDnsName: Parse<string> = (raw) => {
  const name = raw.toLowerCase().replace(/\.$/, "");
  const labelsOk = name.split(".").every((l) => LABEL_RE.test(l));
  return labelsOk && name.length <= 253 ? ok(name) : bad("a DNS name like clusterset.local");
};

const parseAbsPath: Parse<string> = (raw) =>
  posix.isAbsolute(raw) && !raw.includes("\0")
    ? ok(posix.normalize(raw).replace(/(.)\/$/, "$1"))
    : bad("an absolute path");

const parseCidr: Parse<Cidr> = (raw) => {
  const [address = "", prefixText = "", ...rest] = raw.split("/");
  const family = isIP(address);
  const max = family === 6 ? 128 : 32;
  const prefix = /^(0|[1-9][0-9]{0,2})$/.test(prefixText) ? Number(prefixText) : NaN;
  if (family === 0 || rest.length > 0) return bad("a CIDR like 242.0.0.0/8 or fd00::/64");
  if (!(prefix <= max)) return bad(`a prefix length from 0 to ${max} after the '/'`);
  return ok({ address, prefix, family: family === 4 ? 4 : 6 });
};

const parsePort = intIn(1, 65535);

function dnsServer(address: string, portText: string | undefined, wantFamily?: IpFamily): Parsed<DnsServer> {
  const family = isIP(address);
  const port = portText === undefined ? ok(53) : parsePort(portText);
  if (family === 0 || (wantFamily !== undefined && family !== wantFamily)) return bad("an IP address");
  if (!port.ok) return bad(`a port from 1 to 65535 (got ${JSON.stringify(portText)})`);
  const server = family === 6 ? `[${address}]:${port.value}` : `${address}:${port.value}`;
  return ok({ address, port: port.value, family: family === 4 ? 4 : 6, server });
}

const parseDnsServer: Parse<DnsServer> = (raw) => {
  const bracketed = /^\[([^\]]+)\](?::([^:]*))?$/.exec(raw);
  if (bracketed) return dnsServer(bracketed[1] ?? "", bracketed[2], 6);
  if (isIP(raw) !== 0) return dnsServer(raw, undefined);
  const hostPort = /^([^:]+):([^:]*)$/.exec(raw);
  if (hostPort) return dnsServer(hostPort[1] ?? "", hostPort[2], 4);
  return bad("an IP address");
};

/** A comma list; blanks around items are ignored, empty items are not. */
function listOf<T>(item: Parse<T>, what: string): Parse<readonly T[]> {
  return (raw) => {
    const values: T[] = [];
    for (const text of raw.split(",").map((s) => s.trim())) {
      const r = item(text);
      if (!r.ok)
        return bad(`a comma-separated list of ${what} (item ${quote(text)}: expected ${r.expected})`);
      values.push(r.value);
    }
    return ok(values);
  };
}

function quote(raw: string): string {
  return JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);
}

// ---------------------------------------------------------------------------------------------
// Reading the environment.

interface Reader {
  /** The parsed value, or undefined when unset/empty (Kubernetes `value: ""`) or invalid (recorded). */
  opt<T>(name: AnyEnvVarName, parse: Parse<T>): T | undefined;
  /** Like opt, with a default. */
  def<T>(name: AnyEnvVarName, parse: Parse<T>, fallback: T): T;
  /** Required: a missing value is a problem; `fallback` is only returned alongside a recorded problem. */
  req<T>(name: AnyEnvVarName, parse: Parse<T>, fallback: T): T;
}

function makeReader(env: Env, problems: string[]): Reader {
  const opt = <T>(name: AnyEnvVarName, parse: Parse<T>): T | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === "") return undefined;
    const r = parse(raw);
    if (r.ok) return r.value;
    problems.push(`${name}=${quote(raw)}: expected ${r.expected}`);
    return undefined;
  };
  return {
    opt,
    def: (name, parse, fallback) => opt(name, parse) ?? fallback,
    req: (name, parse, fallback) => {
      if (env[name] === undefined || env[name] === "")
        problems.push(`${name} is not set: expected ${docOf(name).meaning}`);
      return opt(name, parse) ?? fallback;
    },
  };
}

function docOf(name: AnyEnvVarName): EnvVarDoc {
  const all: readonly EnvVarDoc[] = [...ENV_VARS, ...CONTROLLER_ENV_VARS, ...WEBHOOK_ENV_VARS];
  return all.find((v) => v.name === name) ?? { name, required: false, default: "", meaning: "" };
}

const UID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function parseUid(raw: string): Parsed<string> {
  return UID_RE.test(raw) ? ok(raw) : bad("a UID like 0f9b1c2e-…, from fieldRef metadata.uid");
}

function readPod(r: Reader): PodInfo {
  const ip = r.req<IpValue>("POD_IP", parseIp, { address: "", family: 4 });
  return {
    name: r.req("POD_NAME", parseObjectName, ""),
    namespace: r.req("POD_NAMESPACE", parseNamespace, ""),
    ip: ip.address,
    ipFamily: ip.family,
    node: r.opt("NODE_NAME", parseObjectName),
    uid: r.opt("POD_UID", parseUid),
  };
}

function readDaemon(r: Reader): InitEnv["daemon"] {
  const type = r.opt("CEPH_MCS_DAEMON_TYPE", oneOf<DaemonType>(["mon", "osd"]));
  return { type, id: r.opt("CEPH_MCS_DAEMON_ID", daemonIdParser(type)) };
}

function readMcs(
  r: Reader,
  podNamespace: string,
): Pick<InitEnv, "cephCluster" | "enabled" | "clusterID" | "zone"> {
  return {
    cephCluster: {
      name: r.opt("CEPH_MCS_CEPHCLUSTER", parseObjectName),
      namespace: r.def("CEPH_MCS_CEPHCLUSTER_NAMESPACE", parseNamespace, podNamespace),
    },
    enabled: r.opt("CEPH_MCS_ENABLED", parseBool),
    clusterID: r.opt("CEPH_MCS_CLUSTER_ID", parseLabel),
    zone: r.def("CEPH_MCS_ZONE", parseDnsName, "clusterset.local"),
  };
}

type Tuning = Omit<InitEnv, "pod" | "daemon" | "cephCluster" | "enabled" | "clusterID" | "zone">;

function readTuning(r: Reader): Tuning {
  return {
    globalCidrs: r.def("CEPH_MCS_GLOBAL_CIDRS", listOf(parseCidr, "CIDRs"), []),
    dnsServers: r.def(
      "CEPH_MCS_DNS_SERVERS",
      listOf(parseDnsServer, "DNS servers (ip, ip:port, [ipv6]:port)"),
      [],
    ),
    dnsTimeoutMs: r.def("CEPH_MCS_DNS_TIMEOUT_MS", intIn(100, 60_000), 2000),
    deadlineSeconds: r.def("CEPH_MCS_DEADLINE_SECONDS", intIn(10, 86_400), 600),
    warnAfterSeconds: r.def("CEPH_MCS_WARN_AFTER_SECONDS", intIn(1, 86_400), 60),
    readyGraceSeconds: r.def("CEPH_MCS_READY_GRACE_SECONDS", intIn(1, 3600), 30),
    msgr2Only: r.opt("CEPH_MCS_MSGR2_ONLY", parseBool),
    ipFamily: r.opt("CEPH_MCS_IP_FAMILY", parseFamily),
    dir: r.def("CEPH_MCS_DIR", parseAbsPath, "/run/ceph-mcs"),
    wrapper: r.def("CEPH_MCS_WRAPPER", parseAbsPath, "/usr/local/bin/ceph-mcs-exec"),
    terminationLog: r.def("CEPH_MCS_TERMINATION_LOG", parseAbsPath, "/dev/termination-log"),
    kubeconfig: r.opt("KUBECONFIG", parseAbsPath),
    logLevel: r.def("LOG_LEVEL", oneOf(LOG_LEVELS, true), "info"),
    logPretty: r.def("CEPH_MCS_LOG_PRETTY", parseBool, false),
  };
}

const WRAPPER_COPY_NAME = "ceph-mcs-exec";

/** Checks between variables, each naming both sides. */
function crossProblems(e: Tuning): string[] {
  const checks: [boolean, string][] = [
    [
      e.warnAfterSeconds >= e.deadlineSeconds,
      `CEPH_MCS_WARN_AFTER_SECONDS=${e.warnAfterSeconds}: expected less than CEPH_MCS_DEADLINE_SECONDS=${e.deadlineSeconds}`,
    ],
    [
      e.readyGraceSeconds >= e.deadlineSeconds,
      `CEPH_MCS_READY_GRACE_SECONDS=${e.readyGraceSeconds}: expected less than CEPH_MCS_DEADLINE_SECONDS=${e.deadlineSeconds}`,
    ],
    [
      e.dnsTimeoutMs >= e.deadlineSeconds * 1000,
      `CEPH_MCS_DNS_TIMEOUT_MS=${e.dnsTimeoutMs}: expected less than CEPH_MCS_DEADLINE_SECONDS=${e.deadlineSeconds} in ms`,
    ],
    [
      e.wrapper === posix.join(e.dir, WRAPPER_COPY_NAME),
      `CEPH_MCS_WRAPPER=${quote(e.wrapper)}: expected a path outside CEPH_MCS_DIR (it is copied to ${posix.join(e.dir, WRAPPER_COPY_NAME)})`,
    ],
  ];
  return checks.filter(([failed]) => failed).map(([, message]) => message);
}

const KNOWN_PREFIXED: readonly string[] = ENV_VARS.map((v) => v.name).filter((n) =>
  n.startsWith("CEPH_MCS_"),
);

/** Unknown CEPH_MCS_* variables are typos until proven otherwise. */
function unknownVariables(env: Env): string[] {
  return Object.keys(env)
    .filter((name) => name.startsWith("CEPH_MCS_") && !KNOWN_PREFIXED.includes(name))
    .sort()
    .map((name) => {
      const guess = closest(name, KNOWN_PREFIXED);
      const hint = guess === undefined ? "" : ` (did you mean ${guess}?)`;
      return `${name}=${quote(env[name] ?? "")}: unknown variable${hint}; known: ${KNOWN_PREFIXED.join(", ")}`;
    });
}

/** The known name within edit distance 3, if any. */
function closest(name: string, known: readonly string[]): string | undefined {
  const scored = known.map((k) => ({ k, d: editDistance(name, k) })).sort((a, b) => a.d - b.d);
  const best = scored[0];
  return best !== undefined && best.d <= 3 ? best.k : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** A snapshot of the process environment: the only `process.env` access in agent/. */
export function processEnv(): Env {
  return { ...process.env };
}

/**
 * Parses and validates the whole environment of init mode. Throws one ConfigError listing every
 * problem (variable, bad value, what is expected). Empty values count as unset.
 */
export function loadInitEnv(env: Env): InitEnv {
  const problems: string[] = [];
  const r = makeReader(env, problems);
  const pod = readPod(r);
  const daemon = readDaemon(r);
  const mcs = readMcs(r, pod.namespace);
  const tuning = readTuning(r);
  problems.push(...crossProblems(tuning), ...unknownVariables(env));
  if (problems.length > 0) throw new ConfigError(problems);
  return { pod, daemon, ...mcs, ...tuning };
}

export interface LogSettings {
  readonly level: LogLevel;
  readonly pretty: boolean;
  readonly bindings: { readonly pod?: string; readonly namespace?: string; readonly daemon?: string };
}

/**
 * Lenient log settings for the very first logger, before (or despite) validation: a bad value
 * falls back to the default here and is reported by loadInitEnv.
 */
export function logSettings(env: Env): LogSettings {
  const r = makeReader(env, []);
  const type = r.opt("CEPH_MCS_DAEMON_TYPE", oneOf<DaemonType>(["mon", "osd"]));
  const id = r.opt("CEPH_MCS_DAEMON_ID", daemonIdParser(type));
  return {
    level: r.def("LOG_LEVEL", oneOf(LOG_LEVELS, true), "info"),
    pretty: r.def("CEPH_MCS_LOG_PRETTY", parseBool, false),
    bindings: { pod: env.POD_NAME, namespace: env.POD_NAMESPACE, daemon: daemonName(type, id) },
  };
}

/** Ceph's daemon naming: `mon.a`, `osd.3`. */
export function daemonName(type: DaemonType | undefined, id: string | undefined): string | undefined {
  if (type === undefined) return undefined;
  return id === undefined ? type : `${type}.${id}`;
}

// ---------------------------------------------------------------------------------------------
// The CephCluster.

type JsonObject = Readonly<Record<string, unknown>>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A value as it appears in a message: `"x" (string)`, `42 (number)`, `[] (array)`. */
function describe(v: unknown): string {
  if (typeof v === "string") return `${quote(v)} (string)`;
  const type = v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
  const text = (JSON.stringify(v) as string | undefined) ?? String(v);
  return `${text.length > 80 ? `${text.slice(0, 80)}…` : text} (${type})`;
}

/** Field access on a CR that records "path is X: expected Y". null reads as absent, as Go does. */
interface CrReader {
  obj(parent: JsonObject | undefined, path: string): JsonObject | undefined;
  bool(parent: JsonObject | undefined, path: string): boolean | undefined;
  str(parent: JsonObject | undefined, path: string, parse?: Parse<string>): string | undefined;
}

function field(parent: JsonObject | undefined, path: string): unknown {
  const key = path.slice(path.lastIndexOf(".") + 1);
  return parent?.[key] ?? undefined;
}

function makeCrReader(problems: string[]): CrReader {
  const get = <T>(
    parent: JsonObject | undefined,
    path: string,
    check: (v: unknown) => Parsed<T>,
  ): T | undefined => {
    const v = field(parent, path);
    if (v === undefined || v === null) return undefined;
    const r = check(v);
    if (r.ok) return r.value;
    problems.push(`${path} is ${describe(v)}: expected ${r.expected}`);
    return undefined;
  };
  return {
    obj: (p, path) => get(p, path, (v) => (isObject(v) ? ok(v) : bad("an object"))),
    bool: (p, path) =>
      get(p, path, (v) => (typeof v === "boolean" ? ok(v) : bad("a boolean (true or false)"))),
    str: (p, path, parse) =>
      get(p, path, (v) => {
        if (typeof v !== "string") return bad("a string");
        return parse ? parse(v) : ok(v);
      }),
  };
}

function isAbsent(v: unknown): boolean {
  return v === undefined || v === null || v === "";
}

type Metadata = { name?: string; uid?: string; namespace?: string };

/** name and uid are required; a field of the wrong type is reported once, not also as missing. */
function readMetadata(c: CrReader, obj: JsonObject, problems: string[]): Metadata {
  const meta = c.obj(obj, "metadata");
  if (meta === undefined) {
    if (isAbsent(obj.metadata)) problems.push("metadata is missing: expected name and uid");
    return {};
  }
  for (const key of ["name", "uid"])
    if (isAbsent(meta[key])) problems.push(`metadata.${key} is missing: expected a non-empty string`);
  return {
    name: c.str(meta, "metadata.name"),
    uid: c.str(meta, "metadata.uid"),
    namespace: c.str(meta, "metadata.namespace"),
  };
}

function metadataProblems(meta: { name?: string; namespace?: string }, ref: CephClusterRef): string[] {
  const problems: string[] = [];
  if (ref.name !== undefined && meta.name !== undefined && meta.name !== ref.name)
    problems.push(
      `metadata.name is ${quote(meta.name)}: expected ${quote(ref.name)}, the CephCluster asked for`,
    );
  if (meta.namespace !== undefined && meta.namespace !== ref.namespace)
    problems.push(`metadata.namespace is ${quote(meta.namespace)}: expected ${quote(ref.namespace)}`);
  return problems;
}

export interface CephClusterRef {
  readonly namespace: string;
  /** Undefined when the CephCluster was found by listing the namespace. */
  readonly name?: string;
}

const MCS = "spec.network.multiClusterService";

/** clusterID may be absent or "" while disabled (Go's zero value); enabled with none breaks Rook's lookups too. */
function readClusterId(
  c: CrReader,
  mcs: JsonObject | undefined,
  enabled: boolean,
  problems: string[],
): string | undefined {
  const path = `${MCS}.clusterID`;
  const raw = field(mcs, path);
  // Rook ignores clusterID while MCS is off, so a bad one must not stop a disabled cluster's pods;
  // it is dropped, and enabling MCS by env override then reports the missing ID.
  const reader = enabled ? c : makeCrReader([]);
  const id = reader.str(mcs, path, (v) => (v === "" ? ok(v) : parseLabel(v)));
  if (enabled && (raw === undefined || raw === null || raw === ""))
    problems.push(
      `${path} is ${raw === "" ? '""' : "missing"} while enabled is true: expected ${EXPECT_LABEL}`,
    );
  return id === "" ? undefined : id;
}

function readMcsSpec(
  c: CrReader,
  spec: JsonObject | undefined,
  problems: string[],
): Pick<CephClusterMcs, "enabled" | "clusterID" | "requireMsgr2"> {
  const network = c.obj(spec, "spec.network");
  const mcs = c.obj(network, MCS);
  const enabled = c.bool(mcs, `${MCS}.enabled`) ?? false;
  const clusterID = readClusterId(c, mcs, enabled, problems);
  const connections = c.obj(network, "spec.network.connections");
  const requireMsgr2 = c.bool(connections, "spec.network.connections.requireMsgr2") ?? false;
  return { enabled, clusterID, requireMsgr2 };
}

/**
 * Extracts what init mode needs from a CephCluster as read from the API. Pure; throws one
 * ConfigError naming the CephCluster, each bad field, its value and what is expected.
 */
export function parseCephCluster(obj: unknown, ref: CephClusterRef): CephClusterMcs {
  const where = `CephCluster ${ref.namespace}/${ref.name ?? "(the only one in the namespace)"}`;
  if (!isObject(obj)) throw new ConfigError([`${where} is ${describe(obj)}: expected a CephCluster object`]);
  const problems: string[] = [];
  const c = makeCrReader(problems);
  const kind = c.str(obj, "kind");
  if (kind !== undefined && kind !== "CephCluster")
    problems.push(`kind is ${quote(kind)}: expected "CephCluster"`);
  const { name, uid, namespace } = readMetadata(c, obj, problems);
  problems.push(...metadataProblems({ name, namespace }, ref));
  const spec = readMcsSpec(c, c.obj(obj, "spec"), problems);
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `${where}: ${p}`));
  return { name: name ?? "", namespace: namespace ?? ref.namespace, uid: uid ?? "", ...spec };
}

// ---------------------------------------------------------------------------------------------
// The merge.

interface Merge {
  readonly problems: string[];
  readonly warnings: string[];
}

interface Picked {
  readonly value: string;
  readonly source: string;
}

const LABEL_TYPE = "ceph_daemon_type";
const LABEL_ID = "ceph_daemon_id";

/** Env wins over the pod label; a disagreement is worth a warning. */
function pickEnvOrLabel(
  m: Merge,
  envPick: Picked | undefined,
  labelPick: Picked | undefined,
): Picked | undefined {
  if (envPick && labelPick && envPick.value !== labelPick.value)
    m.warnings.push(
      `${envPick.source}=${quote(envPick.value)} overrides ${labelPick.source}=${quote(labelPick.value)}`,
    );
  return envPick ?? labelPick;
}

function fromEnv(name: EnvVarName, value: string | undefined): Picked | undefined {
  return value === undefined ? undefined : { value, source: name };
}

function fromLabel(labels: Readonly<Record<string, string>>, label: string): Picked | undefined {
  const value = labels[label];
  return value === undefined || value === "" ? undefined : { value, source: `pod label ${label}` };
}

function checked<T>(m: Merge, picked: Picked | undefined, parse: Parse<T>, missing: string): T | undefined {
  if (picked === undefined) {
    m.problems.push(missing);
    return undefined;
  }
  const r = parse(picked.value);
  if (!r.ok) m.problems.push(`${picked.source}=${quote(picked.value)}: expected ${r.expected}`);
  return r.ok ? r.value : undefined;
}

function resolveDaemon(
  m: Merge,
  env: InitEnv,
  labels: Readonly<Record<string, string>>,
): { type: DaemonType; id: string; sources: Pick<ConfigSources, "daemonType" | "daemonId"> } {
  const typePick = pickEnvOrLabel(
    m,
    fromEnv("CEPH_MCS_DAEMON_TYPE", env.daemon.type),
    fromLabel(labels, LABEL_TYPE),
  );
  const idPick = pickEnvOrLabel(m, fromEnv("CEPH_MCS_DAEMON_ID", env.daemon.id), fromLabel(labels, LABEL_ID));
  const type = checked(
    m,
    typePick,
    oneOf<DaemonType>(["mon", "osd"]),
    `daemon type unknown: set CEPH_MCS_DAEMON_TYPE (mon or osd) or the pod label ${LABEL_TYPE}`,
  );
  const id = checked(
    m,
    idPick,
    daemonIdParser(type),
    `daemon id unknown: set CEPH_MCS_DAEMON_ID or the pod label ${LABEL_ID}`,
  );
  const sources = { daemonType: typePick?.source ?? "", daemonId: idPick?.source ?? "" };
  return { type: type ?? "mon", id: id ?? "", sources };
}

type McsSwitch =
  | { readonly enabled: true; readonly clusterID: string }
  | { readonly enabled: false; readonly clusterID?: string };

function switchWarnings(m: Merge, env: InitEnv, cluster: CephClusterMcs, where: string): void {
  if (env.enabled !== undefined && env.enabled !== cluster.enabled)
    m.warnings.push(`CEPH_MCS_ENABLED=${env.enabled} overrides ${where} ${MCS}.enabled=${cluster.enabled}`);
  if (env.clusterID !== undefined && cluster.clusterID !== undefined && env.clusterID !== cluster.clusterID)
    m.warnings.push(
      `CEPH_MCS_CLUSTER_ID=${quote(env.clusterID)} overrides ${where} ${MCS}.clusterID=${quote(cluster.clusterID)}; Rook's own lookups use the latter`,
    );
}

function resolveSwitch(
  m: Merge,
  env: InitEnv,
  cluster: CephClusterMcs,
): McsSwitch & { sources: Pick<ConfigSources, "enabled" | "clusterID"> } {
  const where = `CephCluster ${cluster.namespace}/${cluster.name}`;
  const sources = {
    enabled: env.enabled === undefined ? `${where} ${MCS}.enabled` : "CEPH_MCS_ENABLED",
    clusterID: env.clusterID === undefined ? `${where} ${MCS}.clusterID` : "CEPH_MCS_CLUSTER_ID",
  };
  switchWarnings(m, env, cluster, where);
  const clusterID = env.clusterID ?? cluster.clusterID;
  if (!(env.enabled ?? cluster.enabled)) return { enabled: false, clusterID, sources };
  if (clusterID === undefined)
    m.problems.push(
      `MCS is enabled (by ${sources.enabled}) but no cluster id is set: set CEPH_MCS_CLUSTER_ID or ${where} ${MCS}.clusterID to ${EXPECT_LABEL}`,
    );
  return { enabled: true, clusterID: clusterID ?? "", sources };
}

const familyName = (f: IpFamily): string => `IPv${f}`;

function resolveFamily(
  m: Merge,
  env: InitEnv,
): { family: IpFamily; familyMismatch: boolean; source: string } {
  const family = env.ipFamily ?? env.pod.ipFamily;
  const familyMismatch = family !== env.pod.ipFamily;
  if (familyMismatch)
    m.warnings.push(
      `CEPH_MCS_IP_FAMILY=${family} differs from POD_IP ${env.pod.ip} (${familyName(env.pod.ipFamily)}): the global address is ${familyName(family)}, the daemon still binds to POD_IP (dual-stack)`,
    );
  if (env.globalCidrs.length > 0 && !env.globalCidrs.some((c) => c.family === family))
    m.problems.push(
      `CEPH_MCS_GLOBAL_CIDRS=${quote(env.globalCidrs.map((c) => `${c.address}/${c.prefix}`).join(","))}: expected at least one ${familyName(family)} CIDR, the global IP's family`,
    );
  return { family, familyMismatch, source: env.ipFamily === undefined ? "POD_IP" : "CEPH_MCS_IP_FAMILY" };
}

function paths(env: InitEnv): InitConfigBase["paths"] {
  return {
    dir: env.dir,
    publicAddr: posix.join(env.dir, "public-addr"),
    resultJson: posix.join(env.dir, "result.json"),
    wrapperSource: env.wrapper,
    wrapperCopy: posix.join(env.dir, WRAPPER_COPY_NAME),
    terminationLog: env.terminationLog,
  };
}

/**
 * Merges env, CephCluster and pod labels into init mode's configuration. Precedence: env override
 * > CephCluster for the switch, cluster id and msgr2; env > pod labels for the daemon's identity.
 */
export function resolveInitConfig(
  env: InitEnv,
  cluster: CephClusterMcs,
  podLabels: Readonly<Record<string, string>> = {},
): InitConfig {
  const m: Merge = { problems: [], warnings: [] };
  const daemon = resolveDaemon(m, env, podLabels);
  const { sources: switchSources, ...mcs } = resolveSwitch(m, env, cluster);
  const family = resolveFamily(m, env);
  if (m.problems.length > 0) throw new ConfigError(m.problems);
  const msgr2Source =
    env.msgr2Only === undefined
      ? `CephCluster ${cluster.namespace}/${cluster.name} spec.network.connections.requireMsgr2`
      : "CEPH_MCS_MSGR2_ONLY";
  const base: InitConfigBase = {
    pod: env.pod,
    daemon: { type: daemon.type, id: daemon.id },
    cephCluster: { name: cluster.name, namespace: cluster.namespace, uid: cluster.uid },
    msgr2Only: env.msgr2Only ?? cluster.requireMsgr2,
    family: family.family,
    familyMismatch: family.familyMismatch,
    zone: env.zone,
    globalCidrs: env.globalCidrs,
    dns: { servers: env.dnsServers, timeoutMs: env.dnsTimeoutMs },
    timing: {
      deadlineMs: env.deadlineSeconds * 1000,
      warnAfterMs: env.warnAfterSeconds * 1000,
      readyGraceMs: env.readyGraceSeconds * 1000,
    },
    paths: paths(env),
    log: { level: env.logLevel, pretty: env.logPretty },
    sources: { ...switchSources, ...daemon.sources, msgr2Only: msgr2Source, family: family.source },
    warnings: m.warnings,
  };
  return { ...base, ...mcs };
}
