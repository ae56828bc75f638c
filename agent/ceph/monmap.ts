// Pure: the monmap as the ceph CLI reports it (`quorum_status`, `mon dump`, `tell mon.<id> mon_status`,
// JSON from pacific 16.2 and reef 18.2), mon addrvecs in Ceph's text form, and the CephPort the
// migration runs over. No I/O here; agent/ceph/cli.ts is the adapter.
import { AgentError } from "../errors.ts";
import { ipFamily } from "./flags.ts";

export const MON_V2_PORT = 3300;
export const MON_V1_PORT = 6789;

/** `any` is Ceph's legacy untyped address (`1.2.3.4:6789` without `v1:`). */
export type AddrType = "v1" | "v2" | "any";

export interface EntityAddr {
  type: AddrType;
  /** Bare IP: no brackets. */
  ip: string;
  port: number;
}

export type AddrVec = readonly EntityAddr[];

export interface MonEntry {
  name: string;
  rank: number;
  addrs: AddrVec;
}

export interface MonMap {
  epoch: number;
  fsid: string;
  /** In rank order. */
  mons: readonly MonEntry[];
}

export interface QuorumStatus {
  electionEpoch: number;
  /** Names of the mons in quorum. */
  quorum: readonly string[];
  leader: string | undefined;
  monmap: MonMap;
}

/** One mon's own view (`ceph tell mon.<id> mon_status`). */
export interface MonStatus {
  name: string;
  rank: number;
  /** `leader`, `peon` (in quorum), `probing`, `electing`, `synchronizing`. */
  state: string;
  monmap: MonMap;
}

/** The ceph CLI, as far as the mon migration needs it. Every call honours `signal`. */
export interface CephPort {
  /** `ceph quorum_status`: answered by whichever mon the client reaches. */
  quorumStatus(signal: AbortSignal): Promise<QuorumStatus>;
  /** `ceph tell mon.<id> mon_status`: answered by that mon itself, at the address it advertises. */
  monStatus(id: string, signal: AbortSignal): Promise<MonStatus>;
  /** `ceph mon dump [<epoch>]`. */
  monDump(epoch: number | undefined, signal: AbortSignal): Promise<MonMap>;
  /**
   * `ceph mon set-addrs <id> <addrvec>`, sent through the mon at `via` when given (`-m`), so the
   * client's session is not with the mon that is about to exit.
   */
  setAddrs(id: string, addrs: AddrVec, via: AddrVec | undefined, signal: AbortSignal): Promise<void>;
}

export function isInQuorumState(state: string): boolean {
  return state === "leader" || state === "peon";
}

/** The addrvec a mon advertises on `ip`: `[v2:ip:3300,v1:ip:6789]`, or v2 only when msgr2-only. */
export function monAddrvec(ip: string, msgr2Only: boolean): AddrVec {
  const v2: EntityAddr = { type: "v2", ip, port: MON_V2_PORT };
  return msgr2Only ? [v2] : [v2, { type: "v1", ip, port: MON_V1_PORT }];
}

/** `ip:port`, IPv6 in brackets. */
export function formatHostPort(ip: string, port: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function formatEntityAddr(a: EntityAddr): string {
  const hostPort = formatHostPort(a.ip, a.port);
  return a.type === "any" ? hostPort : `${a.type}:${hostPort}`;
}

/** Ceph's text form, as `ceph mon set-addrs` and `mon_host` take it: `[v2:1.2.3.4:3300,v1:1.2.3.4:6789]`. */
export function formatAddrvec(v: AddrVec): string {
  return `[${v.map(formatEntityAddr).join(",")}]`;
}

export function sameAddrvec(a: AddrVec, b: AddrVec): boolean {
  return a.length === b.length && a.every((x, i) => formatEntityAddr(x) === formatEntityAddr(b[i] ?? x));
}

/** The distinct IPs of an addrvec, in order. */
export function addrvecIPs(v: AddrVec): string[] {
  return [...new Set(v.map((a) => a.ip))];
}

function bad(what: string, detail: string): AgentError {
  return new AgentError("permanent", `unexpected ${what}: ${detail}`, {
    hint: "check that the ceph CLI and the mons run a supported release (pacific 16.2 or later)",
  });
}

const ADDR_RE = /^(?:(v1|v2|any):)?(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})(?:\/\d+)?$/;

/** One address: `v2:1.2.3.4:3300`, `v1:[fd00::1]:6789/0`, `1.2.3.4:6789`; throws when malformed. */
export function parseEntityAddr(text: string): EntityAddr {
  const m = ADDR_RE.exec(text.trim());
  const ip = m?.[2] ?? m?.[3] ?? "";
  const port = Number(m?.[4]);
  if (!m || ipFamily(ip) === undefined || !validPort(port)) throw bad("mon address", JSON.stringify(text));
  return { type: (m[1] ?? "any") as AddrType, ip, port };
}

function validPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

/** An addrvec in text form, with or without the brackets: `[v2:…:3300/0,v1:…:6789/0]`. */
export function parseAddrvec(text: string): AddrVec {
  const inner = text.trim().replace(/^\[(.*)\]$/, "$1");
  if (inner === "") throw bad("mon addrvec", JSON.stringify(text));
  return splitTopLevel(inner).map(parseEntityAddr);
}

// Commas separate addresses; IPv6 brackets never contain one, so a plain split is enough.
function splitTopLevel(s: string): string[] {
  return s.split(",").map((x) => x.trim());
}

// --- JSON --------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

function obj(v: unknown, what: string): Json {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(what, "not a JSON object");
  return v as Json;
}

function num(o: Json, key: string, what: string): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isInteger(v)) throw bad(what, `"${key}" is not an integer`);
  return v;
}

function str(o: Json, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== "string") throw bad(what, `"${key}" is not a string`);
  return v;
}

function arr(o: Json, key: string, what: string): unknown[] {
  const v = o[key];
  if (!Array.isArray(v)) throw bad(what, `"${key}" is not a list`);
  return v;
}

/** JSON text from the CLI; a clear error when it is not JSON (e.g. a warning on stdout). */
export function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw bad(what, `not JSON: ${JSON.stringify(text.slice(0, 120))}`);
  }
}

function parseVecItem(v: unknown, what: string): EntityAddr {
  const o = obj(v, what);
  const type = str(o, "type", what);
  const addr = parseEntityAddr(str(o, "addr", what));
  if (type !== "v1" && type !== "v2" && type !== "any") throw bad(what, `address type ${type}`);
  return { ...addr, type };
}

function parseMonEntry(v: unknown, index: number): MonEntry {
  const what = `monmap entry ${index}`;
  const o = obj(v, what);
  const name = str(o, "name", what);
  const rank = num(o, "rank", what);
  // Pre-nautilus maps carry only `addr`; everything this project supports has `public_addrs`.
  const vec = obj(o.public_addrs, `${what} public_addrs`);
  const addrs = arr(vec, "addrvec", what).map((x) => parseVecItem(x, `${what} addrvec`));
  if (addrs.length === 0) throw bad(what, `mon.${name} has an empty addrvec`);
  return { name, rank, addrs };
}

/** The monmap object of `mon dump`, or `.monmap` of `quorum_status` / `mon_status`. */
export function parseMonMap(v: unknown): MonMap {
  const o = obj(v, "monmap");
  const mons = arr(o, "mons", "monmap").map(parseMonEntry);
  const sorted = [...mons].sort((a, b) => a.rank - b.rank);
  if (sorted.some((m, i) => m.rank !== i)) throw bad("monmap", "ranks are not 0..n-1");
  return { epoch: num(o, "epoch", "monmap"), fsid: str(o, "fsid", "monmap"), mons: sorted };
}

export const parseMonDump = parseMonMap;

function names(v: unknown[], what: string): string[] {
  return v.map((x) => {
    if (typeof x !== "string") throw bad(what, "quorum_names holds a non-string");
    return x;
  });
}

export function parseQuorumStatus(v: unknown): QuorumStatus {
  const what = "quorum_status";
  const o = obj(v, what);
  const leader = o.quorum_leader_name;
  return {
    electionEpoch: num(o, "election_epoch", what),
    quorum: names(arr(o, "quorum_names", what), what),
    leader: typeof leader === "string" && leader !== "" ? leader : undefined,
    monmap: parseMonMap(o.monmap),
  };
}

export function parseMonStatus(v: unknown): MonStatus {
  const what = "mon_status";
  const o = obj(v, what);
  return {
    name: str(o, "name", what),
    rank: num(o, "rank", what),
    state: str(o, "state", what),
    monmap: parseMonMap(o.monmap),
  };
}

export function findMon(map: MonMap, name: string): MonEntry | undefined {
  return map.mons.find((m) => m.name === name);
}
