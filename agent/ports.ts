// The seams between pure logic and I/O. The core (mcs/, ceph/, init/ orchestration) only sees these
// interfaces; adapters in kube/, dns/ and fs implement them, and tests pass fakes or real servers.

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface FilePort {
  /** Writes `data` so that readers see the old content or the new one, never a mix. */
  writeAtomic(path: string, data: string | Uint8Array, mode?: number): Promise<void>;
  /** The file's text, or undefined when it does not exist. */
  read(path: string): Promise<string | undefined>;
}

export type IpFamily = 4 | 6;

/** What a DNS query for one name and family came back with. Timeouts and SERVFAIL are thrown (retryable). */
export type DnsAnswer =
  | { kind: "addresses"; addresses: readonly string[]; ttl: number }
  /** The name exists but has no record of this family (NOERROR, empty answer). */
  | { kind: "nodata" }
  /** The name does not exist (yet): NXDOMAIN. */
  | { kind: "nxdomain" };

export interface DnsPort {
  /** `name` is absolute (ends with a dot). */
  query(name: string, family: IpFamily, signal: AbortSignal): Promise<DnsAnswer>;
}

export type DaemonType = "mon" | "osd";

export interface DaemonRef {
  type: DaemonType;
  /** `a`, `b` … for mons, `0`, `1` … for OSDs. */
  id: string;
}

export interface ObjectRef {
  namespace: string;
  name: string;
  /** Set where known: Events find their object by uid (`kubectl describe`). */
  uid?: string;
}

/** One status condition of a ServiceExport, as stored (every field may be missing on old controllers). */
export interface ExportCondition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}
