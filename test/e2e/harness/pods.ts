// Running commands "in a pod": in the pod's network namespace, chrooted into the Ceph root folder,
// with /proc, /dev, /sys and the pod's volumes mounted in a mount namespace of the command's own.
//
//   const rt = await createRuntime({ root: cephRoot(), cleanup });     // rt.runDir is /e2e inside
//   const argv = rt.podArgv(pod, ["ceph", "-s"], { env: { POD_IP: pod.ip }, volumes: { "/run/ceph-mcs": dir } });
//   await rt.exec(pod, ["ceph", "-c", "/e2e/a/ceph.conf", "-s"]);     // one-shot, with a timeout
//   const d = rt.start(pod, "mon", [...], { env });                    // long-running, logs to rt.logDir
//   await d.stop();                                                    // SIGTERM, then SIGKILL after 20 s
//   rt.toolArgv(["ceph-authtool", …])                                  // chroot only (no netns), for offline tools
//
// `ip netns exec` already gives each command a private mount namespace (slave of the host's), so the
// mounts made inside it vanish with the command: nothing is left mounted in the root folder, and
// two runs can share one root folder. Every run binds its own temp folder at /e2e.
// Daemons run under `setpriv --pdeathsig KILL` (test/harness/processes.ts): they die with the runner.
import { mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startManaged, type Managed } from "../../harness/processes.ts";
import { cmd, Cleanup, rmSyncQuiet, RUN_ID, type CmdResult } from "./host.ts";
import type { Pod } from "./topology.ts";

// sh -c script: $1 = root, then "host-path inside-path" pairs up to "--", then the command.
const ENTER = `set -e
r=$1; shift
mount -t proc proc "$r/proc"
mount --rbind /dev "$r/dev"
mount --rbind /sys "$r/sys"
while [ "$1" != "--" ]; do mount --bind "$1" "$r$2"; shift 2; done
shift
exec chroot "$r" "$@"`;

const BASE_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HOME: "/root", LANG: "C.UTF-8" };

export interface PodCommandOptions {
  /** Environment inside the pod (PATH, HOME, LANG are set). */
  env?: Record<string, string>;
  /** Extra bind mounts: path inside the root → host path (like a pod's volumes). */
  volumes?: Record<string, string>;
}

export interface Daemon {
  readonly name: string;
  readonly pod: Pod;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL after `graceMs` (default 20 s; memstore OSDs write their data out). */
  stop(graceMs?: number): Promise<void>;
}

export interface Runtime {
  readonly root: string;
  /** Host folder bound at /e2e in every pod command (configs, keyrings, data, logs). */
  readonly runDir: string;
  readonly logDir: string;
  podArgv(pod: Pod, argv: readonly string[], opts?: PodCommandOptions): string[];
  toolArgv(argv: readonly string[], opts?: PodCommandOptions): string[];
  exec(
    pod: Pod,
    argv: readonly string[],
    opts?: PodCommandOptions & { timeoutMs?: number },
  ): Promise<CmdResult>;
  tool(argv: readonly string[], opts?: PodCommandOptions & { timeoutMs?: number }): Promise<CmdResult>;
  start(pod: Pod, name: string, argv: readonly string[], opts?: PodCommandOptions): Daemon;
  /** Every daemon started and not yet stopped. */
  readonly daemons: ReadonlySet<Daemon>;
}

function envArgs(env: Record<string, string> | undefined): string[] {
  return Object.entries({ ...BASE_ENV, ...env }).map(([k, v]) => `${k}=${v}`);
}

function enterArgv(rt: { root: string; runDir: string }, argv: readonly string[], opts: PodCommandOptions) {
  const binds = Object.entries({ "/e2e": rt.runDir, ...opts.volumes }).flatMap(([inside, host]) => [
    host,
    inside,
  ]);
  return ["env", "-i", ...envArgs(opts.env), "sh", "-c", ENTER, "sh", rt.root, ...binds, "--", ...argv];
}

function track(managed: Managed, pod: Pod, set: Set<Daemon>, name: string): Daemon {
  const exited = new Promise<number | string>((resolve) => {
    managed.proc.once("exit", (code, signal) => resolve(code ?? signal ?? "?"));
  });
  const daemon: Daemon = {
    name,
    pod,
    pid: managed.proc.pid ?? -1,
    logPath: managed.logPath,
    exited,
    async stop(graceMs = 20_000) {
      const timer = setTimeout(() => managed.proc.kill("SIGKILL"), graceMs);
      if (managed.proc.exitCode === null && managed.proc.signalCode === null) managed.proc.kill("SIGTERM");
      await exited;
      clearTimeout(timer);
      set.delete(daemon);
    },
  };
  set.add(daemon);
  return daemon;
}

export async function createRuntime(opts: { root: string; cleanup: Cleanup }): Promise<Runtime> {
  const runDir = await mkdtemp(join(tmpdir(), `${RUN_ID}-`));
  const logDir = join(runDir, "logs");
  await mkdir(logDir);
  const daemons = new Set<Daemon>();
  opts.cleanup.add(
    `run folder ${runDir}`,
    async () => {
      for (const d of [...daemons]) await d.stop();
      if (process.env.CEPH_MCS_E2E_KEEP !== "1") rmSyncQuiet(runDir);
    },
    () => {
      for (const d of daemons) process.kill(d.pid, "SIGKILL");
      rmSyncQuiet(runDir);
    },
  );
  const base = { root: opts.root, runDir };
  const rt: Runtime = {
    ...base,
    logDir,
    daemons,
    podArgv: (pod, argv, o = {}) => ["ip", "netns", "exec", pod.netns, ...enterArgv(base, argv, o)],
    toolArgv: (argv, o = {}) => [
      "unshare",
      "--mount",
      "--propagation",
      "private",
      ...enterArgv(base, argv, o),
    ],
    exec: (pod, argv, o = {}) => cmd(rt.podArgv(pod, argv, o), { timeoutMs: o.timeoutMs ?? 120_000 }),
    tool: (argv, o = {}) => cmd(rt.toolArgv(argv, o), { timeoutMs: o.timeoutMs ?? 60_000 }),
    start(pod, name, argv, o = {}) {
      const logPath = join(logDir, `${pod.cluster}-${pod.name}-${name}.log`);
      const managed = startManaged(`${pod.cluster}/${name}`, rt.podArgv(pod, argv, o), logPath);
      return track(managed, pod, daemons, name);
    },
  };
  return rt;
}
