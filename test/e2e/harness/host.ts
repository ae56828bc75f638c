// Host-side basics of the e2e harness, shared by topology.ts, pods.ts, ceph.ts and mcs.ts:
//
//   e2eSkipReason()          why e2e tests cannot run here (not root, no netns, no nft…), or undefined
//   RUN_ID                   "ce2e-<pid>": prefix of every netns this process creates
//   sweepStaleRuns()         deletes netns (ending their processes) and run folders of e2e runs that died
//   cmd(argv, opts)          runs a command, throws with its stderr; `input` goes to stdin
//   Cleanup                  LIFO undo stack: async `run()` for normal teardown, and a synchronous
//                            last resort on SIGINT/SIGTERM/exit (process kills, `ip netns del`, rm -rf)
//   Timeline                 "+12.3 s  event" lines a person can read, printed at the end of a test
//   cephRoot()               the Ceph 18 root folder, built by scripts/build-ceph-root.sh if missing
//
// Rule kept by every part of the harness: everything it creates is named after RUN_ID and undone
// by a Cleanup, even when a test fails or the run is interrupted.
import { execFile, spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../harness/controlplane.ts";

export const RUN_ID = `ce2e-${process.pid}`;
const RUN_RE = /^ce2e-(\d+)-/;

export interface CmdOptions {
  input?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export interface CmdResult {
  stdout: string;
  stderr: string;
}

/** Runs argv (no shell); rejects with the command line, exit status and stderr. */
export function cmd(argv: readonly string[], opts: CmdOptions = {}): Promise<CmdResult> {
  const [file, ...args] = argv;
  if (!file) throw new Error("cmd: empty argv");
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 256 << 20, env: opts.env ?? process.env },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ stdout, stderr });
          return;
        }
        const why = err.killed ? `killed after ${opts.timeoutMs ?? 60_000} ms` : `exit ${String(err.code)}`;
        const line = argv.join(" ").slice(0, 300);
        reject(new Error(`${line}: ${why}\n${stderr.trim().slice(-2000)}`, { cause: err }));
      },
    );
    // A command that never reads stdin may exit before the write: that EPIPE is no error.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(opts.input ?? "");
  });
}

function works(argv: string[]): boolean {
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: "ignore", timeout: 10_000 });
  return r.status === 0;
}

/** Undefined when this machine can run the e2e (root, network namespaces, nftables, unshare). */
export function e2eSkipReason(): string | undefined {
  if (process.platform !== "linux") return "e2e tests need Linux network namespaces";
  if (process.getuid?.() !== 0) return "e2e tests need root (network namespaces, nftables, chroot)";
  for (const tool of ["ip", "nft", "unshare", "setpriv", "chroot"]) {
    if (!works(["sh", "-c", `command -v ${tool}`])) return `e2e tests need '${tool}' (bash scripts/setup.sh)`;
  }
  const probe = `${RUN_ID}-probe`;
  if (!works(["ip", "netns", "add", probe])) return "cannot create a network namespace here (ip netns add)";
  const nftOk = works(["ip", "netns", "exec", probe, "nft", "list", "ruleset"]);
  works(["ip", "netns", "del", probe]);
  return nftOk ? undefined : "nftables does not work inside a network namespace here";
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Ends the processes inside `ns` (by pid) and deletes it; synchronous, never throws. */
export function deleteNetnsSync(ns: string): void {
  const pids = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).stdout;
  for (const pid of pids.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  spawnSync("ip", ["netns", "del", ns], { stdio: "ignore" });
}

/** Removes what e2e runs whose process is gone left behind (a SIGKILLed runner cannot clean up). */
export function sweepStaleRuns(): string[] {
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
  const stale = list
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((ns) => {
      const m = RUN_RE.exec(ns);
      return m !== null && Number(m[1]) !== process.pid && !alive(Number(m[1]));
    });
  for (const ns of stale) deleteNetnsSync(ns);
  // Run folders (pods.ts) of dead runs: /tmp/ce2e-<pid>-XXXXXX.
  for (const dir of readdirSync(tmpdir())) {
    const m = RUN_RE.exec(dir);
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) rmSyncQuiet(join(tmpdir(), dir));
  }
  return stale;
}

interface Undo {
  what: string;
  run: () => Promise<void>;
  sync: () => void;
}

/**
 * An undo stack. `add` registers the async undo used by `run()` and the synchronous one used when
 * the process is interrupted; both must be idempotent. The first Cleanup installs the signal hooks.
 */
export class Cleanup {
  private readonly undos: Undo[] = [];
  private static readonly all = new Set<Cleanup>();
  private static hooked = false;

  constructor() {
    Cleanup.all.add(this);
    Cleanup.hook();
  }

  add(what: string, run: () => Promise<void>, sync: () => void): void {
    this.undos.push({ what, run, sync });
  }

  /** Runs every undo, newest first; collects failures and throws them together at the end. */
  async run(): Promise<void> {
    const errors: string[] = [];
    for (let u = this.undos.pop(); u; u = this.undos.pop()) {
      await u.run().catch((err: unknown) => {
        errors.push(`${u.what}: ${(err as Error).message}`);
        u.sync();
      });
    }
    Cleanup.all.delete(this);
    if (errors.length > 0) throw new Error(`cleanup had errors:\n${errors.join("\n")}`);
  }

  runSync(): void {
    for (let u = this.undos.pop(); u; u = this.undos.pop()) {
      try {
        u.sync();
      } catch {
        // last resort: keep going
      }
    }
  }

  private static hook(): void {
    if (Cleanup.hooked) return;
    Cleanup.hooked = true;
    const all = (): void => {
      for (const c of Cleanup.all) c.runSync();
    };
    process.once("exit", all);
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      process.once(sig, () => {
        process.stderr.write(`\n[e2e] ${sig}: removing netns, processes and temp files of ${RUN_ID}\n`);
        all();
        process.exit(sig === "SIGINT" ? 130 : 143);
      });
    }
  }
}

/** Synchronous rm -rf for undo hooks. */
export function rmSyncQuiet(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/** Human-readable event log with times relative to its start. */
export class Timeline {
  readonly started = Date.now();
  readonly events: { at: number; what: string }[] = [];
  private readonly echo: boolean;

  constructor(echo = process.env.CEPH_MCS_E2E_QUIET !== "1") {
    this.echo = echo;
  }

  mark(what: string): number {
    const at = Date.now() - this.started;
    this.events.push({ at, what });
    if (this.echo) process.stderr.write(`[e2e ${fmtSeconds(at)}] ${what}\n`);
    return at;
  }

  /** Milliseconds since the first event whose text contains `needle` (for "took" figures). */
  since(needle: string): number {
    const e = this.events.find((x) => x.what.includes(needle));
    return e ? Date.now() - this.started - e.at : NaN;
  }

  render(title: string): string {
    const lines = this.events.map((e) => `  ${fmtSeconds(e.at).padStart(8)}  ${e.what}`);
    return [`── ${title}`, ...lines].join("\n");
  }
}

export function fmtSeconds(ms: number): string {
  return `+${(ms / 1000).toFixed(1)} s`;
}

/** The Ceph root folder (built or checked by scripts/build-ceph-root.sh: 0 s when up to date). */
export function cephRoot(): string {
  const script = join(ROOT, "scripts/build-ceph-root.sh");
  const r = spawnSync("bash", [script], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  const path = r.stdout.trim().split("\n").at(-1) ?? "";
  if (r.status !== 0 || !existsSync(join(path, "usr/bin/ceph-mon"))) {
    throw new Error(
      `scripts/build-ceph-root.sh failed (exit ${String(r.status)}); run it by hand to see why`,
    );
  }
  return path;
}
