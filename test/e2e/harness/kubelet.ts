// A kubelet's restartPolicy: Always for one daemon: whenever the process ends, it is started again
// with the same command (after `restartDelayMs`), until stop(). Needed where a daemon exits on purpose
// and Kubernetes would bring it back, e.g. a mon after `ceph mon set-addrs` ("removed from monmap,
// suicide").
//
//   const sup = keepRunning("mon.b", () => rt.start(pod, "mon.b", argv), { cleanup, onExit });
//   sup.exits                       // [{ at, code }] — code is the exit status or the signal name
//   await sup.stop();               // no more restarts; SIGTERM (SIGKILL after the grace)
import type { Cleanup } from "./host.ts";
import type { Daemon } from "./pods.ts";

export interface DaemonExit {
  name: string;
  at: number;
  /** Exit status, or the signal's name (SIGABRT, SIGSEGV). */
  code: number | string;
  /** Starts so far, the one that just ended included. */
  starts: number;
}

export interface Supervised {
  readonly name: string;
  readonly exits: readonly DaemonExit[];
  /** The process running now (or the last one, after stop). */
  current(): Daemon;
  stop(graceMs?: number): Promise<void>;
}

export interface KeepRunningOptions {
  /** Registered so that an interrupted run stops the restarts before the runtime kills daemons. */
  cleanup?: Cleanup;
  restartDelayMs?: number;
  onExit?(e: DaemonExit): void;
}

export function keepRunning(name: string, start: () => Daemon, opts: KeepRunningOptions = {}): Supervised {
  const exits: DaemonExit[] = [];
  let stopped = false;
  let starts = 0;
  let daemon: Daemon;
  const launch = (): void => {
    daemon = start();
    starts++;
    void daemon.exited.then((code) => {
      if (stopped) return;
      const e = { name, at: Date.now(), code, starts };
      exits.push(e);
      opts.onExit?.(e);
      setTimeout(() => {
        if (!stopped) launch();
      }, opts.restartDelayMs ?? 1000);
    });
  };
  launch();
  const sup: Supervised = {
    name,
    exits,
    current: () => daemon,
    async stop(graceMs) {
      stopped = true;
      await daemon.stop(graceMs);
    },
  };
  opts.cleanup?.add(
    `restarts of ${name}`,
    () => sup.stop(),
    () => {
      stopped = true;
    },
  );
  return sup;
}
