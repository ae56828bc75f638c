// Reads every available address source, cross-checks them, and retries (with jitter) while the answer
// is "not yet" or the sources still disagree, until the overall deadline. API sources that have
// answered are not asked again (DNS is re-queried each round: it costs the apiserver nothing).
import type { Logger } from "pino";
import { AgentError, wrap } from "../errors.ts";
import { chooseAddress, normaliseIp, type AddressReadings, type AddressVerdict } from "../mcs/address.ts";
import { clustersetName } from "../mcs/naming.ts";
import type { Clock, DnsAnswer, DnsPort, IpFamily, ObjectRef } from "../ports.ts";
import { retryUntil } from "../retry.ts";
import type { AddressSourceResult } from "./files.ts";
import type { ApiSurface, ExportVersion, InitKubePort } from "./kube-port.ts";

export interface ResolveInput {
  ref: ObjectRef;
  clusterID: string;
  zone: string;
  family: IpFamily;
  surface: ApiSurface & { exportVersion: ExportVersion };
  globalCidrs: readonly string[];
  serviceClusterIP: string | undefined;
  /** The controller as guessed from its conditions (logs, and the no-per-cluster-address check). */
  implementation: string;
}

export interface ResolveDeps {
  kube: InitKubePort;
  dns: DnsPort;
  clock: Clock;
  log: Logger;
}

export interface Resolved {
  ip: string;
  family: IpFamily;
  sources: AddressSourceResult[];
}

/** An agreed address waits this long for the sources that have not published it yet. */
export const SETTLE_MS = 3000;

// DNS is polled quickly (a local query); the API sources are read again only while they are empty,
// and at most once a second.
const API_EVERY_MS = 1000;
const POLL = { minMs: 100, maxMs: 400, factor: 1.2 };

// These implementations publish no cluster-specific address for an exported Service (only per-cluster
// VIPs of derived Services, or nothing): there is no single address every cluster could dial.
const NO_CLUSTER_ADDRESS = new Set(["cilium", "antrea"]);

type SourceName = keyof AddressReadings;

interface Round {
  readings: AddressReadings;
  /** Whether the API sources were read in this round (not reused from an earlier one). */
  apiFresh: boolean;
  details: Partial<Record<SourceName, string>>;
}

class Resolution {
  readonly input: ResolveInput;
  readonly deps: ResolveDeps;
  readonly started: number;
  firstAgreement: number | undefined;
  /** API readings that carried an address: not read again. */
  readonly settled: AddressReadings = {};
  /** The last API round, reused while younger than API_EVERY_MS (DNS is polled faster). */
  lastApi: { at: number; gii: readonly string[] | undefined; eps: readonly string[] | undefined } | undefined;
  constructor(input: ResolveInput, deps: ResolveDeps) {
    this.input = input;
    this.deps = deps;
    this.started = deps.clock.now();
  }
}

export async function resolveAddress(
  input: ResolveInput,
  deps: ResolveDeps,
  signal: AbortSignal,
): Promise<Resolved> {
  const r = new Resolution(input, deps);
  return retryUntil(() => attempt(r, signal), signal, {
    ...POLL,
    onRetry: (err, n) => deps.log.info({ attempt: n }, `address not settled: ${err.message}`),
  });
}

async function attempt(r: Resolution, signal: AbortSignal): Promise<Resolved> {
  const { input, deps } = r;
  const round = await readSources(r, signal).catch((err: unknown) => {
    throw err instanceof AgentError ? err : wrap(err, "read the address sources", refText(input.ref));
  });
  deps.log.debug({ readings: round.readings }, "address sources read");
  const verdict = choose(input, round.readings, []);
  if (!verdict.ok) throw failure(r, verdict);
  r.firstAgreement ??= deps.clock.now();
  // Cross-checking: sources that have not spoken yet get a moment to confirm (or contradict) it.
  if (verdict.pending.length > 0 && deps.clock.now() - r.firstAgreement < SETTLE_MS) {
    const said = `${verdict.agreed.join(" and ")} ${verdict.agreed.length > 1 ? "agree on" : "reports"} ${verdict.ip}`;
    throw new AgentError("retryable", `${said}; waiting for ${verdict.pending.join(" and ")}`);
  }
  // Never accept on a cached API round: a source that appeared since may contradict the others.
  if (!round.apiFresh) {
    r.lastApi = undefined;
    return attempt(r, signal);
  }
  // Read once, at the end: a clusterset VIP must never become a daemon's address.
  const vips = await deps.kube.readClusterSetVIPs(input.surface.exportVersion, input.ref);
  const checked = choose(input, round.readings, vips);
  if (!checked.ok) throw failure(r, checked);
  return { ip: checked.ip, family: checked.family, sources: describe(round, checked.ip) };
}

function choose(input: ResolveInput, readings: AddressReadings, vips: readonly string[]): AddressVerdict {
  return chooseAddress(readings, {
    family: input.family,
    globalCidrs: input.globalCidrs,
    clusterSetVIPs: vips,
    serviceClusterIP: input.serviceClusterIP,
  });
}

function failure(r: Resolution, v: Extract<AddressVerdict, { ok: false }>): AgentError {
  const { input, deps } = r;
  if (NO_CLUSTER_ADDRESS.has(input.implementation) && deps.clock.now() - r.started >= SETTLE_MS) {
    return new AgentError(
      "permanent",
      `the export is valid, but this MCS implementation (${input.implementation}) publishes no cluster-specific address for it; a Ceph daemon needs one address that every cluster reaches`,
      {
        object: refText(input.ref),
        hint: "with overlapping networks use Submariner Lighthouse with Globalnet; with non-overlapping Service CIDRs Rook's ClusterIPs already work, so disable multiClusterService",
      },
    );
  }
  return new AgentError(v.kind, `cannot settle the global IP (${v.reason}): ${v.message}`, {
    object: refText(input.ref),
  });
}

const refText = (ref: ObjectRef): string => `Service ${ref.namespace}/${ref.name}`;

async function readSources(r: Resolution, signal: AbortSignal): Promise<Round> {
  const { input, deps, settled } = r;
  const name = clustersetName(input.clusterID, input.ref.name, input.ref.namespace, input.zone);
  const before = deps.clock.now();
  const [api, dns] = await Promise.all([readApiSources(r), deps.dns.query(name, input.family, signal)]);
  const { gii, eps } = api;
  if (gii && gii.length > 0) settled.globalIngressIP = gii;
  if (eps && eps.length > 0) settled.endpointSlice = eps;
  return {
    readings: { globalIngressIP: gii, endpointSlice: eps, dns: dnsAddresses(dns) },
    apiFresh: api.at >= before,
    details: {
      globalIngressIP: giiDetail(gii),
      endpointSlice: eps === undefined ? "no Lighthouse EndpointSlice for this cluster" : undefined,
      dns: dns.kind === "addresses" ? undefined : `${name} ${dns.kind.toUpperCase()}`,
    },
  };
}

function giiDetail(gii: readonly string[] | undefined): string | undefined {
  if (gii === undefined) return "no GlobalIngressIP (Globalnet not in use)";
  return gii.length === 0 ? "not allocated yet" : undefined;
}

async function readApiSources(r: Resolution): Promise<NonNullable<Resolution["lastApi"]>> {
  const { input, deps, settled } = r;
  const now = deps.clock.now();
  if (r.lastApi && now - r.lastApi.at < API_EVERY_MS) return r.lastApi;
  const [gii, eps] = await Promise.all([
    settled.globalIngressIP ??
      (input.surface.globalnet ? deps.kube.readGlobalIngressIP(input.ref) : undefined),
    settled.endpointSlice ?? deps.kube.readLighthouseAddresses(input.ref, input.clusterID),
  ]);
  r.lastApi = { at: now, gii, eps };
  return r.lastApi;
}

/** NXDOMAIN and NODATA both mean "not (yet) published": an applicable source without an address. */
function dnsAddresses(answer: DnsAnswer): readonly string[] {
  return answer.kind === "addresses" ? answer.addresses : [];
}

function describe(round: Round, ip: string): AddressSourceResult[] {
  return (["globalIngressIP", "endpointSlice", "dns"] as const).map((name) => {
    const values = round.readings[name];
    const detail = round.details[name];
    const agreed = values?.some((v) => normaliseIp(v)?.ip === ip) ?? false;
    return { name, value: values?.[0] ?? null, agreed, ...(detail ? { detail } : {}) };
  });
}
