// Child processes of the harness: started under util-linux's setpriv with a parent-death signal, so the
// kernel ends them even when the test runner is SIGKILLed; logs to a file; stopped with SIGTERM then SIGKILL.
import { spawn, type ChildProcess } from "node:child_process";
import { openSync, closeSync } from "node:fs";
import { createServer } from "node:net";

export interface Managed {
  name: string;
  proc: ChildProcess;
  logPath: string;
  stop(): Promise<void>;
}

/** Synchronous last resort for process exit hooks: SIGTERM now (run-child.sh escalates). */
export function killNow(procs: readonly Managed[]): void {
  for (const p of procs) if (p.proc.exitCode === null) p.proc.kill("SIGTERM");
}

export function startManaged(name: string, argv: string[], logPath: string): Managed {
  const fd = openSync(logPath, "a");
  const proc = spawn("setpriv", ["--pdeathsig", "KILL", "--", ...argv], { stdio: ["ignore", fd, fd] });
  closeSync(fd);
  // The control plane must not keep a test process alive; stop() or the exit hook ends it.
  proc.unref();
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
  return { name, proc, logPath, stop };
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `probe` until it returns true, failing with the tail of the process log. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not become ready within ${timeoutMs} ms`);
}
