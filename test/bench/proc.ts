// Runs one process for the benchmark and measures it: wall time on the monotonic clock, start and end
// on the wall clock (Date.now(), comparable with file mtimes and the emulator's event times on this
// host), and optionally its peak RSS: GNU time's %M (the kernel's ru_maxrss of the waited-for child)
// when /usr/bin/time exists, else VmHWM from /proc/<pid>/status polled every 10 ms.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";

const GNU_TIME = "/usr/bin/time";

export interface ProcOptions {
  env: Record<string, string>;
  /** Measure peak RSS (adds GNU time's fork+exec, so leave it off where wall time matters). */
  rss?: boolean;
  /** Folder for GNU time's output file. */
  tmp: string;
  timeoutMs?: number;
  /** Send stdout to this file instead of collecting it (for large outputs). */
  stdoutFile?: string;
}

export interface ProcResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Date.now() just before spawn and when the process was reaped. */
  startedAt: number;
  endedAt: number;
  /** performance.now() difference: spawn → close. */
  ms: number;
  peakRssKb: number | undefined;
}

let seq = 0;

function start(argv: readonly string[], opts: ProcOptions): ChildProcess {
  const out = opts.stdoutFile === undefined ? "pipe" : openSync(opts.stdoutFile, "w");
  const child = spawn(argv[0]!, argv.slice(1), { env: opts.env, stdio: ["ignore", out, "pipe"] });
  if (typeof out === "number") closeSync(out);
  return child;
}

export async function runProc(argv: readonly string[], opts: ProcOptions): Promise<ProcResult> {
  const useTime = opts.rss === true && existsSync(GNU_TIME);
  const timeOut = join(opts.tmp, `time-${process.pid}-${seq++}.txt`);
  const startedAt = Date.now();
  const t0 = performance.now();
  const child = start(useTime ? [GNU_TIME, "-f", "%M", "-o", timeOut, ...argv] : argv, opts);
  const poller = opts.rss === true && !useTime ? pollHwm(child.pid) : undefined;
  const killer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (b: Buffer) => (stdout += b.toString()));
  child.stderr?.on("data", (b: Buffer) => (stderr += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  const ms = performance.now() - t0;
  const endedAt = Date.now();
  clearTimeout(killer);
  const peakRssKb = useTime ? await readTimeOutput(timeOut) : poller?.stop();
  return { code, stdout, stderr, startedAt, endedAt, ms, peakRssKb };
}

/** GNU time writes "Command exited with non-zero status N" before the format on failure. */
async function readTimeOutput(path: string): Promise<number | undefined> {
  const text = await readFile(path, "utf8").catch(() => "");
  await rm(path, { force: true });
  const last = text.trim().split("\n").at(-1);
  const kb = Number(last);
  return last === undefined || last === "" || Number.isNaN(kb) ? undefined : kb;
}

function pollHwm(pid: number | undefined): { stop(): number | undefined } {
  let peak: number | undefined;
  const read = (): void => {
    if (pid === undefined) return;
    readFile(`/proc/${pid}/status`, "utf8").then(
      (s) => {
        const kb = Number(/^VmHWM:\s+(\d+) kB/m.exec(s)?.[1]);
        if (!Number.isNaN(kb)) peak = Math.max(peak ?? 0, kb);
      },
      () => undefined,
    );
  };
  const timer = setInterval(read, 10);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}
