// The init container's outputs in the shared emptyDir (DESIGN.md, "The pod contract"), and the
// node filesystem adapter that writes them atomically: a daemon container that starts, or an init
// container that is killed and re-run, sees each file whole or not at all.
import { randomBytes } from "node:crypto";
import { open, rename, rm, readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { AgentError, wrap } from "../errors.ts";
import type { DaemonRef, ExportCondition, FilePort, IpFamily } from "../ports.ts";

/** Default mount point of the shared emptyDir; the wrapper reads `CEPH_MCS_DIR` with this default. */
export const DEFAULT_CONTRACT_DIR = "/run/ceph-mcs";

/** File names inside the shared directory; images/ceph-mcs-exec reads the same names. */
export const CONTRACT_FILES = {
  publicAddr: "public-addr",
  result: "result.json",
  msgr2Only: "msgr2-only",
  wrapper: "ceph-mcs-exec",
} as const;

export const INIT_RESULT_SCHEMA_VERSION = 1;

/** A FilePort that can also delete (stale switches from a previous run must go). */
export interface InitFilePort extends FilePort {
  /** Deletes the file; true when it existed. */
  remove(path: string): Promise<boolean>;
}

const DEFAULT_MODE = 0o644;

/** The real filesystem: atomic writes (same-dir temp + fsync + rename + dir fsync), mode 0644 by default. */
export function nodeFiles(): InitFilePort {
  return { writeAtomic, read, remove };
}

async function writeAtomic(path: string, data: string | Uint8Array, mode = DEFAULT_MODE): Promise<void> {
  // Same directory, so the rename stays on one filesystem and is atomic; random name, so a
  // leftover from a killed writer never blocks this one.
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeSynced(tmp, data, mode);
    await rename(tmp, path);
  } catch (err) {
    // Best effort: the original error is the one worth reporting.
    await rm(tmp, { force: true }).catch(() => undefined);
    throw wrap(err, "write file atomically", path, "check the volume is mounted, writable and not full");
  }
  await syncDir(dirname(path));
}

async function writeSynced(tmp: string, data: string | Uint8Array, mode: number): Promise<void> {
  const fh = await open(tmp, "wx", mode);
  try {
    await fh.writeFile(data);
    // open()'s mode is filtered by the umask; the caller's mode must hold exactly.
    await fh.chmod(mode);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

// Makes the rename itself durable.
async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw wrap(err, "fsync directory", dir, "check the volume is mounted and writable");
  }
}

async function read(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw wrap(err, "read file", path, "check the volume is mounted and readable");
  }
}

async function remove(path: string): Promise<boolean> {
  try {
    await rm(path);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw wrap(err, "remove file", path, "check the volume is mounted and writable");
  }
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === "ENOENT";
}

export type AddressSourceName = "globalIngressIP" | "endpointSlice" | "dns";

/** One address source as the init run saw it. */
export interface AddressSourceResult {
  name: AddressSourceName;
  /** The address it gave, or null when it gave none (disabled, not found, failed). */
  value: string | null;
  /** True when its value is the chosen global IP. */
  agreed: boolean;
  /** Why it gave no value, e.g. `NXDOMAIN` or `not configured`. */
  detail?: string;
}

/** `result.json`: what the init container decided and why; read by `ceph-mcs-agent status`. */
export interface InitResult {
  schemaVersion: typeof INIT_RESULT_SCHEMA_VERSION;
  daemon: DaemonRef;
  pod: string;
  namespace: string;
  enabled: boolean;
  globalIP: string | null;
  family: IpFamily | null;
  msgr2Only: boolean;
  sources: AddressSourceResult[];
  export: {
    /** `multicluster.x-k8s.io/v1alpha1` or `/v1beta1`, whichever the cluster serves. */
    apiVersion: string;
    /** The conditions as last seen, in order. */
    conditions: ExportCondition[];
  } | null;
  service: { name: string; clusterIP: string | null } | null;
  /** The pin annotation on the Service before this run; `changed` when this run (re)wrote it. */
  pin: { previous: string | null; changed: boolean } | null;
  timings: {
    /** RFC 3339 timestamps. */
    startedAt: string;
    /** When the export was Valid (null when never waited, e.g. disabled). */
    validAt: string | null;
    writtenAt: string;
    totalMs: number;
  };
}

export interface InitOutputs {
  result: InitResult;
  /** The wrapper shipped in the agent's image, copied into the shared directory. */
  wrapperPath: string;
}

/** Copies the wrapper into the shared directory, executable. Returns its new path. */
export async function installWrapper(files: FilePort, dir: string, wrapperPath: string): Promise<string> {
  const text = await files.read(wrapperPath);
  if (text?.startsWith("#!/bin/sh") !== true) {
    throw new AgentError("permanent", `wrapper ${wrapperPath} is missing or not a #!/bin/sh script`, {
      object: wrapperPath,
      hint: "the agent image is broken or --wrapper points elsewhere; use the released image",
    });
  }
  const target = join(dir, CONTRACT_FILES.wrapper);
  await files.writeAtomic(target, text, 0o755);
  return target;
}

/**
 * Writes the MCS-on outputs. Order matters: `public-addr` switches the daemon to MCS, so it comes
 * last, after the wrapper, `result.json` and the msgr2-only marker are in place.
 */
export async function writeInitOutputs(
  files: InitFilePort,
  dir: string,
  outputs: InitOutputs,
): Promise<void> {
  const { result, wrapperPath } = outputs;
  const ip = enabledIP(result);
  await installWrapper(files, dir, wrapperPath);
  await files.writeAtomic(join(dir, CONTRACT_FILES.result), `${JSON.stringify(result, null, 2)}\n`);
  const marker = join(dir, CONTRACT_FILES.msgr2Only);
  if (result.msgr2Only) await files.writeAtomic(marker, "true\n");
  else await files.remove(marker);
  await files.writeAtomic(join(dir, CONTRACT_FILES.publicAddr), `${ip}\n`);
}

function enabledIP(result: InitResult): string {
  if (result.enabled && result.globalIP !== null) return result.globalIP;
  throw new AgentError("permanent", "init result has MCS disabled or no global IP; nothing to switch on", {
    object: `${result.daemon.type}.${result.daemon.id}`,
    hint: "call writeDisabledOutputs for the disabled case (agent bug)",
  });
}

/**
 * MCS off: installs the wrapper (the daemon's command still runs through it) and removes the
 * switches a previous MCS-on run left in the emptyDir, `public-addr` first. Returns the names removed.
 */
export async function writeDisabledOutputs(
  files: InitFilePort,
  dir: string,
  wrapperPath: string,
): Promise<string[]> {
  await installWrapper(files, dir, wrapperPath);
  const removed: string[] = [];
  // result.json too: a stale one would report an address the daemon no longer uses.
  for (const name of [CONTRACT_FILES.publicAddr, CONTRACT_FILES.msgr2Only, CONTRACT_FILES.result]) {
    if (await files.remove(join(dir, name))) removed.push(name);
  }
  return removed;
}
