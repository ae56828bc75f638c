// Reads every available address source at once, cross-checks them, and retries (with jitter) while
// the answer is "not yet" or the sources still disagree, until the overall deadline.
import pRetry from "p-retry";
import type { Logger } from "pino";
import { AgentError, classify, wrap } from "../errors.ts";
import { chooseAddress, normaliseIp, type AddressReadings, type AddressVerdict } from "../mcs/address.ts";
import { clustersetName } from "../mcs/naming.ts";
import type { Clock, DnsAnswer, DnsPort, IpFamily, ObjectRef } from "../ports.ts";
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

// These implementations publish no cluster-specific address for an exported Service (only per-cluster
// VIPs of derived Services, or nothing): there is no single address every cluster could dial.
const NO_CLUSTER_ADDRESS = new Set(["cilium", "antrea"]);

export interface ResolveDeps {
  kube: InitKubePort;
  dns: DnsPort;
  clock: Clock;
  log: Logger;
}

/** How long an agreed address waits for the sources that have not published it yet to catch up. */
export const SETTLE_MS = 3000;

export interface Resolved {
  ip: string;
  family: IpFamily;
  sources: AddressSourceResult[];
}

interface Reading {
  readings: AddressReadings;
  vips: string[];
  details: Partial<Record<keyof AddressReadings, string>>;
}

export async function resolveAddress(
  input: ResolveInput,
  deps: ResolveDeps,
  signal: AbortSignal,
): Promise<Resolved> {
  let last: AgentError | undefined;
  let firstAgreement: number | undefined;
  const started = deps.clock.now();
  const attempt = async (): Promise<Resolved> => {
    const r = await readSources(input, deps, signal).catch((err: unknown) => {
      throw (last =
        err instanceof AgentError
          ? err
          : wrap(err, "read the address sources", `Service ${input.ref.namespace}/${input.ref.name}`));
    });
    deps.log.debug({ readings: r.readings, vips: r.vips }, "address sources read");
    const verdict = chooseAddress(r.readings, {
      family: input.family,
      globalCidrs: input.globalCidrs,
      clusterSetVIPs: r.vips,
      serviceClusterIP: input.serviceClusterIP,
    });
    if (
      !verdict.ok &&
      NO_CLUSTER_ADDRESS.has(input.implementation) &&
      deps.clock.now() - started >= SETTLE_MS
    ) {
      throw noClusterAddress(input);
    }
    if (!verdict.ok) throw (last = addressError(input.ref, verdict));
    firstAgreement ??= deps.clock.now();
    // Cross-checking means every source that can speak should: give late publishers a moment.
    if (verdict.pending.length > 0 && deps.clock.now() - firstAgreement < SETTLE_MS) {
      throw new AgentError(
        "retryable",
        `${verdict.agreed.join(" and ")} ${verdict.agreed.length > 1 ? "agree on" : "reports"} ${verdict.ip}; waiting for ${verdict.pending.join(" and ")}`,
      );
    }
    return { ip: verdict.ip, family: verdict.family, sources: describe(r, verdict.ip) };
  };
  try {
    return await pRetry(attempt, {
      retries: Number.MAX_SAFE_INTEGER,
      minTimeout: 200,
      maxTimeout: 3000,
      factor: 1.5,
      randomize: true,
      signal,
      shouldRetry: ({ error }) => classify(error) === "retryable",
      onFailedAttempt: ({ error, attemptNumber }) =>
        deps.log.info({ attempt: attemptNumber }, `address not settled: ${error.message}`),
    });
  } catch (err) {
    throw signal.aborted && last ? last : err;
  }
}

function noClusterAddress(input: ResolveInput): AgentError {
  return new AgentError(
    "permanent",
    `the export is valid, but this MCS implementation (${input.implementation}) publishes no cluster-specific address for it; a Ceph daemon needs one address that every cluster reaches`,
    {
      object: `Service ${input.ref.namespace}/${input.ref.name}`,
      hint: "with overlapping networks use Submariner Lighthouse with Globalnet; with non-overlapping Service CIDRs Rook's ClusterIPs already work, so disable multiClusterService",
    },
  );
}

function addressError(ref: ObjectRef, v: Extract<AddressVerdict, { ok: false }>): AgentError {
  return new AgentError(v.kind, `cannot settle the global IP (${v.reason}): ${v.message}`, {
    object: `Service ${ref.namespace}/${ref.name}`,
  });
}

async function readSources(input: ResolveInput, deps: ResolveDeps, signal: AbortSignal): Promise<Reading> {
  const name = clustersetName(input.clusterID, input.ref.name, input.ref.namespace, input.zone);
  const [gii, eps, dns, vips] = await Promise.all([
    input.surface.globalnet ? deps.kube.readGlobalIngressIP(input.ref) : undefined,
    deps.kube.readLighthouseAddresses(input.ref, input.clusterID),
    deps.dns.query(name, input.family, signal),
    deps.kube.readClusterSetVIPs(input.surface.exportVersion, input.ref),
  ]);
  return {
    readings: { globalIngressIP: gii, endpointSlice: eps, dns: dnsAddresses(dns) },
    vips,
    details: {
      globalIngressIP:
        gii === undefined
          ? "no GlobalIngressIP (Globalnet not in use)"
          : gii.length === 0
            ? "not allocated yet"
            : undefined,
      endpointSlice: eps === undefined ? "no Lighthouse EndpointSlice for this cluster" : undefined,
      dns: dns.kind === "addresses" ? undefined : `${name} ${dns.kind.toUpperCase()}`,
    },
  };
}

/** NXDOMAIN and NODATA both mean "not (yet) published": an applicable source without an address. */
function dnsAddresses(answer: DnsAnswer): readonly string[] {
  return answer.kind === "addresses" ? answer.addresses : [];
}

function describe(r: Reading, ip: string): AddressSourceResult[] {
  return (["globalIngressIP", "endpointSlice", "dns"] as const).map((name) => {
    const values = r.readings[name];
    const value = values?.[0] ?? null;
    const detail = r.details[name];
    const agreed = values?.some((v) => normaliseIp(v)?.ip === ip) ?? false;
    return { name, value, agreed, ...(detail ? { detail } : {}) };
  });
}
