// The address flags a mon/OSD gets under MCS. The same rules run at daemon start in the POSIX sh
// wrapper images/ceph-mcs-exec; test/unit/wrapper.test.ts proves the two agree. Pure: no I/O.
import { isIP } from "node:net";
import { AgentError } from "../errors.ts";
import type { DaemonType, IpFamily } from "../ports.ts";

/** Ceph's msgr2 mon port; `make_mon_addrs` turns an address with this port into a v2-only addrvec. */
export const MON_MSGR2_PORT = 3300;

export interface DaemonAddressing {
  type: DaemonType;
  /** The clusterset-global IP, bare (no brackets, no port). */
  globalIP: string;
  /** The pod's own IP (`status.podIP`), bare. */
  podIP: string;
  /** The cluster requires msgr2: mons listen on 3300 only, no daemon binds msgr1. */
  msgr2Only: boolean;
}

/** 4 or 6 for a bare IP address, undefined for anything else (zone ids included: no use globally). */
export function ipFamily(address: string): IpFamily | undefined {
  if (address.includes("%")) return undefined;
  const family = isIP(address);
  return family === 4 || family === 6 ? family : undefined;
}

/** The address as Ceph parses it: IPv6 in brackets, optional port. */
export function formatAddr(ip: string, port?: number): string {
  const host = ip.includes(":") ? `[${ip}]` : ip;
  return port === undefined ? host : `${host}:${port}`;
}

/** The daemon type from the binary's name (`/usr/bin/ceph-mon` → mon), undefined for others. */
export function daemonTypeFromBinary(binary: string): DaemonType | undefined {
  const base = binary.slice(binary.lastIndexOf("/") + 1);
  if (base === "ceph-mon") return "mon";
  if (base === "ceph-osd") return "osd";
  return undefined;
}

/** The flags appended to the daemon's arguments, in this order. */
export function daemonFlags(input: DaemonAddressing): string[] {
  const { type, globalIP, podIP, msgr2Only } = input;
  requireIP(globalIP, "global IP", type);
  requireIP(podIP, "pod IP", type);
  const port = type === "mon" && msgr2Only ? MON_MSGR2_PORT : undefined;
  const flags = [
    `--public-addr=${formatAddr(globalIP, port)}`,
    `--public-bind-addr=${formatAddr(podIP, port)}`,
  ];
  if (type === "osd") flags.push(`--cluster-addr=${formatAddr(podIP)}`);
  if (msgr2Only) flags.push("--ms-bind-msgr1=false");
  return flags;
}

function requireIP(address: string, what: string, type: DaemonType): void {
  if (ipFamily(address) !== undefined) return;
  throw new AgentError("permanent", `${what} ${JSON.stringify(address)} is not a bare IPv4/IPv6 address`, {
    object: `${type} daemon flags`,
    hint: "pass the address without brackets, port or zone",
  });
}

// Ceph treats '-' and '_' alike in option names, so compare normalised names.
const ADDRESS_OPTIONS = new Set(["public_addr", "public_bind_addr", "cluster_addr"]);
const MSGR1_OPTIONS = new Set(["ms_bind_msgr1", "no_ms_bind_msgr1"]);
const BOOL_WORDS = new Set(["true", "false", "1", "0"]);

type Owned = "value" | "bool" | undefined;

/** Whether an argument (`--name` or `--name=value`) is one of the flags the wrapper owns, and its kind. */
function ownedOption(arg: string, msgr2Only: boolean): Owned {
  if (!arg.startsWith("--")) return undefined;
  const eq = arg.indexOf("=");
  const name = (eq < 0 ? arg.slice(2) : arg.slice(2, eq)).replaceAll("-", "_");
  if (ADDRESS_OPTIONS.has(name)) return "value";
  return msgr2Only && MSGR1_OPTIONS.has(name) ? "bool" : undefined;
}

/**
 * Drops every `--public-addr`, `--public-bind-addr`, `--cluster-addr` (any spelling, `--x=v` or
 * `--x v`) and, when msgr2-only, `--ms-bind-msgr1`; everything else stays, in order.
 */
export function stripAddressFlags(args: readonly string[], msgr2Only: boolean): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    const owned = ownedOption(arg, msgr2Only);
    if (owned === undefined) {
      kept.push(arg);
    } else if (!arg.includes("=") && i + 1 < args.length && takesNext(owned, args[i + 1] ?? "")) {
      i++;
    }
  }
  return kept;
}

// Ceph's parser takes the next argument as an option's value; bool flags take none, but a stray
// true/false after one goes with it (Ceph would reject it as "too many arguments").
function takesNext(owned: "value" | "bool", next: string): boolean {
  return owned === "value" || BOOL_WORDS.has(next);
}

/** The daemon's arguments (without the binary) as the wrapper execs them. */
export function rewriteArgs(args: readonly string[], input: DaemonAddressing): string[] {
  const flags = daemonFlags(input);
  return [...stripAddressFlags(args, input.msgr2Only), ...flags];
}
