// Global IP pool imitating Submariner Globalnet's IPAM (pkg/ipam/ippool.go, read 2026): the network and
// broadcast addresses are never handed out and a single allocation takes the HIGHEST free address, so a
// cluster's first exported Service in 242.0.1.0/24 gets 242.0.1.254. Works for IPv6 too (Globalnet
// itself is IPv4-only; the emulator accepts an IPv6 CIDR so dual-stack agent code can be exercised).
import { isIPv4, isIPv6 } from "node:net";

/** What a re-created export gets: Globalnet's real behaviour, or a guaranteed different address. */
export type ReallocationPolicy = "same-if-free" | "different";

export interface Cidr {
  family: 4 | 6;
  base: bigint;
  bits: number;
}

export class PoolExhaustedError extends Error {
  constructor() {
    // Globalnet's wording: Lighthouse copies it into the ServiceExport condition message.
    super("insufficient IPs available for allocation");
    this.name = "PoolExhaustedError";
  }
}

export function parseIp(ip: string): { family: 4 | 6; value: bigint } {
  if (isIPv4(ip)) {
    const value = ip.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
    return { family: 4, value };
  }
  if (isIPv6(ip)) return { family: 6, value: parseIpv6(ip) };
  throw new Error(`not an IP address: ${ip}`);
}

function parseIpv6(ip: string): bigint {
  const [head = "", tail] = ip.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":");
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups =
    tail === undefined ? headGroups : [...headGroups, ...Array<string>(missing).fill("0"), ...tailGroups];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

export function formatIp(family: 4 | 6, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join(".");
  const groups = Array.from({ length: 8 }, (_, i) =>
    ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16),
  );
  return compressIpv6(groups);
}

// RFC 5952: the longest run (≥2) of zero groups becomes "::".
function compressIpv6(groups: string[]): string {
  let best = { start: -1, len: 0 };
  let run = { start: -1, len: 0 };
  groups.forEach((g, i) => {
    run = g === "0" ? { start: run.len === 0 ? i : run.start, len: run.len + 1 } : { start: -1, len: 0 };
    if (run.len > best.len) best = { ...run };
  });
  if (best.len < 2) return groups.join(":");
  const left = groups.slice(0, best.start).join(":");
  const right = groups.slice(best.start + best.len).join(":");
  return `${left}::${right}`;
}

export function parseCidr(cidr: string): Cidr {
  const [ip = "", prefix = ""] = cidr.split("/");
  const { family, value } = parseIp(ip);
  const width = family === 4 ? 32 : 128;
  const bits = Number(prefix);
  if (!Number.isInteger(bits) || bits < 0 || bits > width) throw new Error(`bad prefix in CIDR ${cidr}`);
  const hostBits = BigInt(width - bits);
  return { family, base: (value >> hostBits) << hostBits, bits };
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  const parsed = parseIp(ip);
  const hostBits = BigInt((cidr.family === 4 ? 32 : 128) - cidr.bits);
  return parsed.family === cidr.family && parsed.value >> hostBits === cidr.base >> hostBits;
}

/**
 * Per-cluster pool. Keys are "namespace/service"; allocate() is idempotent per key, so a Service keeps
 * its address for as long as its GlobalIngressIP (i.e. its ServiceExport) exists.
 */
export class GlobalIpPool {
  readonly cidr: Cidr;
  readonly policy: ReallocationPolicy;
  private readonly first: bigint;
  private readonly last: bigint;
  private next: bigint;
  private readonly byKey = new Map<string, bigint>();
  private readonly used = new Set<bigint>();
  // Released addresses, reused only when the never-used range is empty (policy "different").
  private readonly quarantine: bigint[] = [];

  constructor(cidr: string, policy: ReallocationPolicy = "same-if-free") {
    this.cidr = parseCidr(cidr);
    this.policy = policy;
    const size = 1n << BigInt((this.cidr.family === 4 ? 32 : 128) - this.cidr.bits);
    if (size < 4n) throw new Error(`CIDR ${cidr} is too small (Globalnet needs at least a /30)`);
    this.first = this.cidr.base + 1n;
    this.last = this.cidr.base + size - 2n;
    this.next = this.last;
  }

  get(key: string): string | undefined {
    const v = this.byKey.get(key);
    return v === undefined ? undefined : formatIp(this.cidr.family, v);
  }

  /** Returns the key's address, allocating the highest free one; throws PoolExhaustedError. */
  allocate(key: string): string {
    const held = this.get(key);
    if (held !== undefined) return held;
    const value = this.policy === "different" ? this.takeFresh() : this.takeHighest();
    this.byKey.set(key, value);
    this.used.add(value);
    return formatIp(this.cidr.family, value);
  }

  release(key: string): void {
    const v = this.byKey.get(key);
    if (v === undefined) return;
    this.byKey.delete(key);
    this.used.delete(v);
    this.quarantine.push(v);
  }

  /** Free addresses left (for tests that size a pool to exhaust it). */
  available(): bigint {
    return this.last - this.first + 1n - BigInt(this.used.size);
  }

  private takeHighest(): bigint {
    for (let v = this.last; v >= this.first; v--) if (!this.used.has(v)) return v;
    throw new PoolExhaustedError();
  }

  private takeFresh(): bigint {
    while (this.next >= this.first) {
      const v = this.next--;
      if (!this.used.has(v)) return v;
    }
    const reused = this.quarantine.findIndex((v) => !this.used.has(v));
    if (reused < 0) throw new PoolExhaustedError();
    return this.quarantine.splice(reused, 1)[0]!;
  }
}
