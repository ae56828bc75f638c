// The agent as the kubelet would start it (an init container: a fresh process with only its env),
// bundled (dist/ceph-mcs-agent.mjs, what the image runs) or unbundled (agent/cli.ts under type stripping).
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { InitResult } from "../../agent/init/files.ts";
import { ROOT } from "../harness/controlplane.ts";
import { CLI, NODE, WRAPPER, type Daemon } from "../harness/scenario.ts";
import { runProc, type ProcResult } from "./proc.ts";

export const DIST = join(ROOT, "dist/ceph-mcs-agent.mjs");

export type Build = "bundled" | "unbundled";

export const BUILDS: readonly Build[] = ["bundled", "unbundled"];

export function agentArgv(build: Build, ...args: string[]): string[] {
  return [NODE, build === "bundled" ? DIST : CLI, ...args];
}

/** Where one scenario's agents find the apiserver, DNS and their folders. */
export interface AgentTarget {
  ns: string;
  kubeconfig: string;
  dns: string;
  /** Scratch folder (GNU time output). */
  tmp: string;
}

/** A distinct pod IP per daemon (mons a–z, OSDs 0–60999). */
export function podIP(d: Daemon): string {
  if (d.type === "mon") return `10.244.0.${10 + d.id.charCodeAt(0) - 97}`;
  const n = Number(d.id);
  return `10.244.${1 + Math.floor(n / 250)}.${(n % 250) + 1}`;
}

/**
 * The pod's env as in test/harness/scenario.ts, with production-like timing knobs; `overrides` win.
 */
export function agentEnv(
  t: AgentTarget,
  d: Daemon,
  dir: string,
  overrides: Record<string, string> = {},
): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    POD_NAME: `rook-ceph-${d.type}-${d.id}-0`,
    POD_NAMESPACE: t.ns,
    POD_IP: podIP(d),
    NODE_NAME: "node-1",
    KUBECONFIG: t.kubeconfig,
    CEPH_MCS_DAEMON_TYPE: d.type,
    CEPH_MCS_DAEMON_ID: d.id,
    CEPH_MCS_CEPHCLUSTER: "my-cluster",
    CEPH_MCS_DNS_SERVERS: t.dns,
    CEPH_MCS_DNS_TIMEOUT_MS: "500",
    CEPH_MCS_DEADLINE_SECONDS: "60",
    CEPH_MCS_WARN_AFTER_SECONDS: "30",
    CEPH_MCS_READY_GRACE_SECONDS: "5",
    CEPH_MCS_DIR: dir,
    CEPH_MCS_WRAPPER: WRAPPER,
    CEPH_MCS_TERMINATION_LOG: join(dir, "termination-log"),
    ...overrides,
  };
}

export interface AgentProcRun extends ProcResult {
  logs: Record<string, unknown>[];
  /** From the agent's exit line {"apiRequests": N, "msg": "API requests sent"}. */
  apiRequests: number | undefined;
  publicAddr: string | undefined;
  /**
   * When public-addr appeared (ms since the epoch, the kernel's wall clock): the later of its mtime
   * (its temp file's data write) and its folder's mtime (the rename into place — public-addr is the
   * last file the agent writes).
   */
  writtenAt: number | undefined;
  result: InitResult | undefined;
}

export async function runAgentProc(
  build: Build,
  env: Record<string, string>,
  opts: { tmp: string; rss?: boolean },
): Promise<AgentProcRun> {
  const run = await runProc(agentArgv(build, "init"), { env, tmp: opts.tmp, rss: opts.rss ?? false });
  const dir = env.CEPH_MCS_DIR ?? "";
  const logs = run.stdout
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const exit = logs.find((l) => l.msg === "API requests sent");
  const addrFile = join(dir, "public-addr");
  const resultText = await readFile(join(dir, "result.json"), "utf8").catch(() => undefined);
  return {
    ...run,
    logs,
    apiRequests: typeof exit?.apiRequests === "number" ? exit.apiRequests : undefined,
    publicAddr: (await readFile(addrFile, "utf8").catch(() => undefined))?.trim(),
    writtenAt: await appearedAt(addrFile, dir),
    result: resultText === undefined ? undefined : (JSON.parse(resultText) as InitResult),
  };
}

async function appearedAt(file: string, dir: string): Promise<number | undefined> {
  const f = await stat(file).catch(() => undefined);
  const d = await stat(dir).catch(() => undefined);
  return f && d ? Math.max(f.mtimeMs, d.mtimeMs) : undefined;
}

/** The last error (or last) log line, for failure notes. */
export function lastWords(run: AgentProcRun): string {
  const last = run.logs.filter((l) => l.level === "error").at(-1) ?? run.logs.at(-1);
  const msg = typeof last?.msg === "string" ? last.msg : run.stderr.trim().slice(0, 300);
  return `exit ${String(run.code)}: ${msg}`;
}
