// Chooses the daemon's global IP from several independent readings and validates it. Sources are
// cross-checked, never ranked: a disagreement is an error, not a guess, because a mon's address is
// written into the monmap for its whole life.
import { BlockList, SocketAddress, isIP } from "node:net";
import type { IpFamily } from "../ports.ts";

/** Where an address was read: Globalnet GlobalIngressIP status.allocatedIP, the Lighthouse EndpointSlice for this cluster, DNS `<clusterID>.<svc>.<ns>.svc.<zone>.`. */
export type SourceName = "globalIngressIP" | "endpointSlice" | "dns";

export const SOURCES: readonly SourceName[] = ["globalIngressIP", "endpointSlice", "dns"];

/** Per source: undefined = not applicable / disabled; [] = applicable but no address yet. */
export type AddressReadings = Partial<Record<SourceName, readonly string[] | undefined>>;

export interface AddressOptions {
  family: IpFamily;
  /** Globalnet CIDR(s) of this cluster; the address must be inside one of them. */
  globalCidrs?: readonly string[];
  /** ServiceImport spec.ips: a clusterset VIP is not routed by Submariner and is never accepted. */
  clusterSetVIPs?: readonly string[];
  /**
   * The Service's own ClusterIP. Without Globalnet (no globalCidrs and no globalIngressIP reading) the
   * export carries the ClusterIP itself, so the address must equal it; with Globalnet it must not.
   */
  serviceClusterIP?: string;
}

export type AddressProblem =
  | "InvalidOption"
  | "NoSource"
  | "InvalidAddress"
  | "Ambiguous"
  | "WrongFamily"
  | "SpecialAddress"
  | "ClusterSetVIP"
  | "ServiceClusterIP"
  | "OutsideGlobalCidr"
  | "NoAddressYet"
  | "Disagreement"
  | "NotServiceClusterIP";

export interface AddressError {
  ok: false;
  /** retryable: wait and read again until the deadline; permanent: fail now. */
  kind: "retryable" | "permanent";
  reason: AddressProblem;
  message: string;
}

export type AddressVerdict =
  | {
      ok: true;
      ip: string;
      family: IpFamily;
      /** The sources that reported this address. */
      agreed: SourceName[];
      /** Applicable sources without an address yet. */
      pending: SourceName[];
    }
  | AddressError;

export interface NormalisedIp {
  ip: string;
  family: IpFamily;
}

const MAPPED_V4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/;

/**
 * Canonical text of an IP: IPv4 dotted quad; IPv6 lowercase, RFC 5952 compressed. An IPv4-mapped IPv6
 * address (`::ffff:a.b.c.d`) is the IPv4 address it maps. Zone ids and anything else → undefined.
 */
export function normaliseIp(text: unknown): NormalisedIp | undefined {
  if (typeof text !== "string" || text.includes("%")) return undefined;
  const family = isIP(text);
  // isIP accepts only canonical dotted quads (no leading zeros, no octal or hex).
  if (family === 4) return { ip: text, family: 4 };
  if (family !== 6) return undefined;
  const ip = new SocketAddress({ address: text, family: "ipv6" }).address;
  const mapped = MAPPED_V4.exec(ip)?.[1];
  return mapped === undefined ? { ip, family: 6 } : { ip: mapped, family: 4 };
}

function blockList(family: "ipv4" | "ipv6", ...cidrs: readonly (readonly [string, number])[]): BlockList {
  const list = new BlockList();
  for (const [net, prefix] of cidrs) list.addSubnet(net, prefix, family);
  return list;
}

// Addresses Ceph could bind but no other cluster could reach. 240/4 stays allowed: Globalnet uses 242/8.
const SPECIAL: readonly (readonly [string, BlockList])[] = [
  ["unspecified", blockList("ipv4", ["0.0.0.0", 8])],
  ["unspecified", blockList("ipv6", ["::", 128])],
  ["loopback", blockList("ipv4", ["127.0.0.0", 8])],
  ["loopback", blockList("ipv6", ["::1", 128])],
  ["link-local", blockList("ipv4", ["169.254.0.0", 16])],
  ["link-local", blockList("ipv6", ["fe80::", 10])],
  ["multicast", blockList("ipv4", ["224.0.0.0", 4])],
  ["multicast", blockList("ipv6", ["ff00::", 8])],
  ["broadcast", blockList("ipv4", ["255.255.255.255", 32])],
];

interface Context {
  family: IpFamily;
  cidrs: { list: BlockList; text: string } | undefined;
  vips: Set<string>;
  clusterIP: string | undefined;
  globalnet: boolean;
}

type Problem = Omit<AddressError, "ok">;

/** Chooses the global IP; see AddressOptions for the rules. Pure. */
export function chooseAddress(readings: AddressReadings, options: AddressOptions): AddressVerdict {
  const ctx = context(readings, options);
  if ("reason" in ctx) return { ok: false, ...ctx };
  const applicable = SOURCES.filter((s) => readings[s] !== undefined);
  if (applicable.length === 0) {
    return permanent(
      "NoSource",
      "no address source is enabled (GlobalIngressIP, EndpointSlice, DNS); enable at least one",
    );
  }
  const read = applicable.map((s) => readSource(s, readings[s] ?? [], ctx));
  const problems = read.filter((r): r is Problem => "reason" in r);
  const first = problems[0];
  if (first !== undefined) return { ok: false, ...first, message: problems.map((p) => p.message).join("; ") };
  return agree(read as SourceValue[], readings, ctx);
}

interface SourceValue {
  source: SourceName;
  ip: string | undefined;
}

function agree(values: SourceValue[], readings: AddressReadings, ctx: Context): AddressVerdict {
  const found = values.filter((v) => v.ip !== undefined);
  const distinct = new Set(found.map((v) => v.ip));
  const [ip] = distinct;
  if (ip === undefined) {
    const names = values.map((v) => v.source).join(", ");
    return retryable(
      "NoAddressYet",
      `no address source has an address for this daemon yet (asked: ${names})`,
    );
  }
  if (distinct.size > 1) {
    return retryable(
      "Disagreement",
      `the address sources disagree (${listing(readings)}); they converge after a global IP re-allocation — if this persists, check for a re-created ServiceExport or a stale DNS cache`,
    );
  }
  if (!ctx.globalnet && ctx.clusterIP !== undefined && ip !== ctx.clusterIP) {
    return retryable(
      "NotServiceClusterIP",
      `the exported address ${ip} is not the Service's ClusterIP ${ctx.clusterIP} (no Globalnet configured: the export should carry the ClusterIP); if Globalnet is in use, configure its global CIDR`,
    );
  }
  const agreed = found.map((v) => v.source);
  const pending = values.filter((v) => v.ip === undefined).map((v) => v.source);
  return { ok: true, ip, family: ctx.family, agreed, pending };
}

function listing(readings: AddressReadings): string {
  return SOURCES.map((s) => {
    const values = readings[s];
    if (values === undefined) return `${s}=(not used)`;
    return `${s}=${values.length === 0 ? "(none yet)" : values.join(" ")}`;
  }).join(", ");
}

function context(readings: AddressReadings, options: AddressOptions): Context | Problem {
  const cidrs = parseCidrs(options.globalCidrs ?? []);
  if ("reason" in cidrs) return cidrs;
  const vips = (options.clusterSetVIPs ?? []).map((v) => normaliseIp(v)?.ip).filter((v) => v !== undefined);
  return {
    family: options.family,
    cidrs: cidrs.text === "" ? undefined : cidrs,
    vips: new Set(vips),
    // "None" (headless) and the like are not addresses.
    clusterIP: normaliseIp(options.serviceClusterIP)?.ip,
    globalnet: cidrs.text !== "" || readings.globalIngressIP !== undefined,
  };
}

function parseCidrs(cidrs: readonly string[]): { list: BlockList; text: string } | Problem {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const parsed = parseCidr(cidr);
    if (parsed === undefined) {
      return {
        kind: "permanent",
        reason: "InvalidOption",
        message: `global CIDR ${JSON.stringify(cidr)} is not a CIDR like 242.0.0.0/16; fix the agent's configuration`,
      };
    }
    list.addSubnet(parsed.ip, parsed.prefix, parsed.family === 4 ? "ipv4" : "ipv6");
  }
  return { list, text: cidrs.join(", ") };
}

function parseCidr(cidr: string): { ip: string; prefix: number; family: IpFamily } | undefined {
  const [, ip = "", bits = ""] = /^([^/%]+)\/(0|[1-9][0-9]{0,2})$/.exec(cidr) ?? [];
  const family = isIP(ip);
  const prefix = Number(bits);
  if (family === 0 || prefix > (family === 4 ? 32 : 128)) return undefined;
  return { ip, prefix, family: family === 4 ? 4 : 6 };
}

function readSource(source: SourceName, values: readonly string[], ctx: Context): SourceValue | Problem {
  const ips = new Set<string>();
  const parsed: NormalisedIp[] = [];
  for (const value of values) {
    const ip = normaliseIp(value);
    if (ip === undefined) {
      return permanent(
        "InvalidAddress",
        `${source} reports ${JSON.stringify(value)}, which is not an IP address; check the MCS controller`,
      );
    }
    if (!ips.has(ip.ip)) parsed.push(ip);
    ips.add(ip.ip);
  }
  const [only, ...others] = parsed;
  if (only === undefined) return { source, ip: undefined };
  if (others.length > 0) {
    return permanent(
      "Ambiguous",
      `${source} reports several addresses (${[...ips].join(", ")}) for this cluster's export, so which one is this daemon's is ambiguous; two clusters may share the same cluster ID — give every cluster a unique one`,
    );
  }
  return validate(source, only, ctx) ?? { source, ip: only.ip };
}

type Check = (source: SourceName, ip: NormalisedIp, ctx: Context) => Problem | undefined;

const CHECKS: readonly Check[] = [
  (source, ip, ctx) =>
    ip.family === ctx.family
      ? undefined
      : permanent(
          "WrongFamily",
          `${source} reports ${ip.ip}, an IPv${ip.family} address, but the agent is configured for IPv${ctx.family}; set the agent's IP family to match the MCS implementation`,
        ),
  (source, ip) => {
    const kind = SPECIAL.find(([, list]) => list.check(ip.ip, ip.family === 4 ? "ipv4" : "ipv6"))?.[0];
    return kind === undefined
      ? undefined
      : permanent(
          "SpecialAddress",
          `${source} reports ${ip.ip}, a ${kind} address, which other clusters cannot reach; check the MCS controller and Globalnet configuration`,
        );
  },
  (source, ip, ctx) =>
    ctx.vips.has(ip.ip)
      ? permanent(
          "ClusterSetVIP",
          `${source} reports ${ip.ip}, the clusterset VIP of the ServiceImport, which is not routed to this daemon; remove the lighthouse.submariner.io/use-clusterset-ip annotation or use the cluster-specific source`,
        )
      : undefined,
  (source, ip, ctx) =>
    ctx.globalnet && ip.ip === ctx.clusterIP
      ? permanent(
          "ServiceClusterIP",
          `${source} reports ${ip.ip}, the Service's own ClusterIP, although Globalnet is configured; check that Globalnet runs in this cluster`,
        )
      : undefined,
  (source, ip, ctx) =>
    ctx.cidrs === undefined || ctx.cidrs.list.check(ip.ip, ip.family === 4 ? "ipv4" : "ipv6")
      ? undefined
      : permanent(
          "OutsideGlobalCidr",
          `${source} reports ${ip.ip}, which is outside the global CIDR (${ctx.cidrs.text}); fix the configured global CIDR or the MCS controller`,
        ),
];

function validate(source: SourceName, ip: NormalisedIp, ctx: Context): Problem | undefined {
  for (const check of CHECKS) {
    const problem = check(source, ip, ctx);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function permanent(reason: AddressProblem, message: string): AddressError {
  return { ok: false, kind: "permanent", reason, message };
}

function retryable(reason: AddressProblem, message: string): AddressError {
  return { ok: false, kind: "retryable", reason, message };
}
