// The leader's loop: a round whenever a watched object changes, at every resync, and after a failed
// round with a growing pause; rounds never overlap (a burst of events makes one more round, not many).
import type { Logger } from "pino";
import type { Clock } from "../ports.ts";
import type { ControllerKubePort } from "./kube-port.ts";
import type { Term } from "./leader.ts";
import type { ControllerMetrics } from "./metrics.ts";
import type { Reconciler, RoundReport } from "./reconcile.ts";

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 30_000;

/** A level-triggered wake-up: any number of fires before the next wait count as one. */
export class Trigger {
  #dirty = true;
  #wake: (() => void) | undefined;

  fire(): void {
    this.#dirty = true;
    this.#wake?.();
  }

  async next(signal: AbortSignal): Promise<boolean> {
    if (!this.#dirty)
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal.removeEventListener("abort", done);
          this.#wake = undefined;
          resolve();
        };
        this.#wake = done;
        signal.addEventListener("abort", done, { once: true });
      });
    this.#dirty = false;
    return !signal.aborted;
  }
}

export interface WorkDeps {
  reconciler: Reconciler;
  kube: ControllerKubePort;
  clock: Clock;
  log: Logger;
  metrics: ControllerMetrics;
  resyncMs: number;
  /** Called after every successful round (health, address ages, follow-up work such as exports). */
  afterRound?: (report: RoundReport, term: Term, signal: AbortSignal) => Promise<void>;
  /** Health bookkeeping. */
  progress: { lastRoundAt: number; failingSince: number };
}

export async function leaderWork(term: Term, signal: AbortSignal, d: WorkDeps): Promise<void> {
  const trigger = new Trigger();
  d.kube.watch(() => trigger.fire(), signal);
  const resync = setInterval(() => trigger.fire(), d.resyncMs);
  let pause = 0;
  try {
    while (await trigger.next(signal)) {
      pause = await oneRound(term, signal, d, pause);
      if (pause > 0) setTimeout(() => trigger.fire(), pause).unref();
    }
  } finally {
    clearInterval(resync);
  }
}

/** Runs a round; returns the pause before a retry (0 after success). */
async function oneRound(term: Term, signal: AbortSignal, d: WorkDeps, pause: number): Promise<number> {
  const started = d.clock.now();
  try {
    const report = await d.reconciler.run(term, signal);
    d.metrics.rounds.inc({ result: "ok" });
    d.metrics.roundSeconds.observe((d.clock.now() - started) / 1000);
    d.progress.lastRoundAt = d.clock.now();
    d.progress.failingSince = 0;
    updateAges(d, report);
    await d.afterRound?.(report, term, signal);
    return 0;
  } catch (err) {
    if (signal.aborted) return 0;
    d.metrics.rounds.inc({ result: "error" });
    d.progress.failingSince ||= started;
    const next = Math.min(Math.max(RETRY_MIN_MS, pause * 2), RETRY_MAX_MS);
    d.log.warn({ err, retryInMs: next }, "reconcile round failed; retrying");
    return next;
  }
}

function updateAges(d: WorkDeps, report: RoundReport): void {
  d.metrics.addressAge.reset();
  const now = d.clock.now();
  for (const a of report.addresses) {
    const at = a.pinnedAt === undefined ? NaN : Date.parse(a.pinnedAt);
    if (a.pinned !== undefined && Number.isFinite(at))
      d.metrics.addressAge.set({ daemon: a.daemon, address: a.pinned }, (now - at) / 1000);
  }
}
