// Pure builders for what an exported Service publishes besides its status: DNS records and the
// Lighthouse EndpointSlice.
import type { V1EndpointSlice } from "@kubernetes/client-node";
import type { FaultName } from "./faults.ts";
import { formatIp, parseIp } from "./ipam.ts";
import type { ProfileInfo } from "./profiles.ts";

export const CLUSTERSET_ZONE = "svc.clusterset.local";

/** An address that is not `ip` but close to it (same /30), for the "sources disagree" faults. */
export function decoyIp(ip: string): string {
  const { family, value } = parseIp(ip);
  return formatIp(family, value ^ 2n);
}

export interface DnsInput {
  info: ProfileInfo;
  clusterId: string;
  namespace: string;
  name: string;
  /** Lighthouse: the exported IP; Cilium: the per-cluster VIP. */
  address: string;
  endpointsReady: boolean;
  faults: ReadonlySet<FaultName>;
}

function answer(address: string, faults: ReadonlySet<FaultName>): string[] {
  if (faults.has("dns-disagrees")) return [decoyIp(address)];
  if (faults.has("dns-multiple")) return [address, decoyIp(address)];
  return [address];
}

/**
 * Records as the implementation's DNS would answer them (names lower-case, no trailing dot).
 * Lighthouse: <cluster>.<svc>.<ns>.svc.clusterset.local → exported IP even without ready endpoints;
 * <svc>.<ns>.svc.clusterset.local → the local IP only while it has ready endpoints, else NODATA ([]).
 * Cilium (KEP-conformant): only <svc>.<ns>.svc.clusterset.local → the VIP of this cluster's derived Service.
 */
export function dnsRecords(d: DnsInput): Map<string, string[]> {
  const plain = `${d.name}.${d.namespace}.${CLUSTERSET_ZONE}`.toLowerCase();
  const records = new Map<string, string[]>();
  if (d.info.dns === "lighthouse") {
    records.set(`${d.clusterId}.${plain}`.toLowerCase(), answer(d.address, d.faults));
    records.set(plain, d.endpointsReady ? [d.address] : []);
  } else if (d.info.dns === "clusterset-vip") {
    records.set(plain, answer(d.address, d.faults));
  }
  return records;
}

export interface SliceInput {
  info: ProfileInfo;
  clusterId: string;
  namespace: string;
  name: string;
  address: string;
  ready: boolean;
  ports: { name?: string; port: number; protocol?: string }[];
  publishNotReadyAddresses: boolean;
}

export const LIGHTHOUSE_MANAGED_BY = "lighthouse-agent.submariner.io";

/** The single-endpoint EndpointSlice Lighthouse makes for an exported ClusterIP Service. */
export function lighthouseEndpointSlice(s: SliceInput): V1EndpointSlice {
  const naming =
    s.info.endpointSlice === "fixed-name"
      ? { name: `${s.name}-${s.namespace}-${s.clusterId}` }
      : { generateName: `${s.name}-` };
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      ...naming,
      namespace: s.namespace,
      labels: {
        "endpointslice.kubernetes.io/managed-by": LIGHTHOUSE_MANAGED_BY,
        "lighthouse.submariner.io/sourceNamespace": s.namespace,
        "multicluster.kubernetes.io/source-cluster": s.clusterId,
        "multicluster.kubernetes.io/service-name": s.name,
        "lighthouse.submariner.io/is-headless": "false",
      },
      annotations: {
        "lighthouse.submariner.io/publish-not-ready-addresses": String(s.publishNotReadyAddresses),
        "lighthouse.submariner.io/globalnet-enabled": "false",
      },
    },
    addressType: s.address.includes(":") ? "IPv6" : "IPv4",
    endpoints: [{ addresses: [s.address], conditions: { ready: s.ready } }],
    ports: s.ports.map((p) => ({ name: p.name ?? "", port: p.port, protocol: p.protocol ?? "TCP" })),
  };
}
