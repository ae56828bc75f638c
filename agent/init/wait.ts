// Waits for the ServiceExport to become usable: a watch (no polling) through the condition state
// machine, failing fast on permanent reasons and after a grace period on Ready=False/Failed.
import type { Logger } from "pino";
import { AgentError } from "../errors.ts";
import { evaluateExport, type ExportVerdict } from "../mcs/conditions.ts";
import type { Clock, ObjectRef } from "../ports.ts";
import type { ExportObservation, ExportVersion, InitKubePort } from "./kube-port.ts";

export interface WaitInput {
  version: ExportVersion;
  ref: ObjectRef;
  initial: ExportObservation;
  readyGraceMs: number;
  /** Re-creates the export if someone deletes it while we wait. */
  reapply: () => Promise<ExportObservation>;
}

export interface WaitDeps {
  kube: InitKubePort;
  clock: Clock;
  log: Logger;
}

export interface WaitResult {
  verdict: ExportVerdict;
  validAt: number;
  /** The export as last seen, to go on watching from. */
  last: ExportObservation;
}

/** Thrown when the deadline passes first; carries the last verdict for the message. */
export class WaitDeadlineError extends AgentError {
  readonly last: ExportVerdict;
  constructor(ref: ObjectRef, last: ExportVerdict) {
    super(
      "retryable",
      `gave up waiting for the ServiceExport: last state ${last.state} ${last.reason}: ${last.message}`,
      {
        object: `ServiceExport ${ref.namespace}/${ref.name}`,
        hint:
          last.hint ?? "check the MCS controller (e.g. subctl show all / subctl diagnose all) and its logs",
      },
    );
    this.name = "WaitDeadlineError";
    this.last = last;
  }
}

class Tracker {
  failingSince: number | undefined;
  last: ExportVerdict;
  seen: ExportObservation;
  constructor(first: ExportObservation) {
    this.seen = first;
    this.last = evaluateExport(first.conditions);
  }
}

export async function waitForExport(
  input: WaitInput,
  deps: WaitDeps,
  signal: AbortSignal,
): Promise<WaitResult> {
  const t = new Tracker(input.initial);
  if (decide(t, input, deps)) return done(t, deps);
  if (await follow(t, { input, deps, untilReady: true }, signal)) return done(t, deps);
  throw new WaitDeadlineError(input.ref, t.last);
}

interface Follow {
  input: WaitInput;
  deps: WaitDeps;
  /** Stop at the first ready verdict (waiting), or go on until aborted (monitoring). */
  untilReady: boolean;
}

/** Follows the export's watch through the state machine; true when it stopped at a ready verdict. */
async function follow(t: Tracker, f: Follow, signal: AbortSignal): Promise<boolean> {
  const { input, deps } = f;
  // Our own stop switch: an async generator's return() waits for its pending next(), which only a
  // watch event or an abort ends.
  const stop = new AbortController();
  const watchSignal = AbortSignal.any([signal, stop.signal]);
  const rv = t.seen.resourceVersion;
  const it = deps.kube.watchServiceExport(input.version, input.ref, rv, watchSignal)[Symbol.asyncIterator]();
  let pending = it.next();
  try {
    for (;;) {
      const r = await nextOrGrace(pending, t, { input, deps }, signal);
      if (r !== GRACE_OVER && r.done === true) return false;
      if (r !== GRACE_OVER) {
        pending = it.next();
        observe(t, r.value ?? (await recreate(input, deps)));
      }
      if (decide(t, input, deps) && f.untilReady) return true;
    }
  } finally {
    stop.abort();
    await it.return?.();
  }
}

const GRACE_OVER: unique symbol = Symbol("grace over");
type Next = IteratorResult<ExportObservation | undefined>;

/** The next watch event, or GRACE_OVER when a failing export's grace period ends first. */
async function nextOrGrace(
  pending: Promise<Next>,
  t: Tracker,
  ctx: { input: WaitInput; deps: WaitDeps },
  signal: AbortSignal,
): Promise<Next | typeof GRACE_OVER> {
  const { input, deps } = ctx;
  if (t.failingSince === undefined) return pending;
  const left = Math.max(0, t.failingSince + input.readyGraceMs - deps.clock.now());
  const grace = deps.clock.sleep(left, signal).then(
    (): typeof GRACE_OVER => GRACE_OVER,
    (): Promise<Next> => pending,
  );
  return Promise.race([pending, grace]);
}

function observe(t: Tracker, seen: ExportObservation): void {
  t.seen = seen;
  t.last = evaluateExport(seen.conditions);
}

async function recreate(input: WaitInput, deps: WaitDeps): Promise<ExportObservation> {
  deps.log.warn({ export: input.ref }, "the ServiceExport was deleted while waiting; re-creating it");
  return input.reapply();
}

function done(t: Tracker, deps: WaitDeps): WaitResult {
  return { verdict: t.last, validAt: deps.clock.now(), last: t.seen };
}

const READY_TYPES = new Set(["Ready", "Synced", "Exported"]);

function readyConfirmed(v: ExportVerdict): boolean {
  return v.state === "ready" && v.conditions.some((c) => READY_TYPES.has(c.type) && c.status === "True");
}

export interface ExportMonitor {
  /** Rejects as soon as the export turns permanently bad; never resolves. */
  failure: Promise<never>;
  /** The latest verdict and observation. */
  latest(): { verdict: ExportVerdict; seen: ExportObservation };
  stop(): void;
}

/**
 * Keeps watching a ready export while the address is resolved: a controller that wrote Valid first
 * may add Ready=False/ExportFailed or a type Conflict moments later, and that must win.
 */
export function monitorExport(input: WaitInput, deps: WaitDeps, signal: AbortSignal): ExportMonitor {
  const t = new Tracker(input.initial);
  // Ready=True already: nothing later in the sequence can take the export back, so no second watch.
  if (readyConfirmed(t.last)) {
    return {
      failure: new Promise<never>(() => undefined),
      latest: () => ({ verdict: t.last, seen: t.seen }),
      stop: () => undefined,
    };
  }
  const stop = new AbortController();
  const failure = follow(t, { input, deps, untilReady: false }, AbortSignal.any([signal, stop.signal])).then(
    () => new Promise<never>(() => undefined),
  );
  failure.catch(() => undefined);
  return { failure, latest: () => ({ verdict: t.last, seen: t.seen }), stop: () => stop.abort() };
}

/** True when ready; throws when failed; false to keep waiting. */
function decide(t: Tracker, input: WaitInput, deps: WaitDeps): boolean {
  const v = t.last;
  for (const w of v.warnings) deps.log.warn({ export: input.ref, implementation: v.implementation }, w);
  deps.log.info(
    { state: v.state, reason: v.reason, implementation: v.implementation },
    `ServiceExport: ${v.message}`,
  );
  if (v.state === "ready") return true;
  if (v.state === "failed") throw permanent(input.ref, v);
  if (v.state !== "failing") {
    t.failingSince = undefined;
    return false;
  }
  t.failingSince ??= deps.clock.now();
  if (deps.clock.now() - t.failingSince >= input.readyGraceMs) throw permanent(input.ref, v);
  return false;
}

function permanent(ref: ObjectRef, v: ExportVerdict): AgentError {
  return new AgentError(
    "permanent",
    `the MCS controller rejected the export: ${v.reason || v.state}: ${v.message}`,
    {
      object: `ServiceExport ${ref.namespace}/${ref.name}`,
      hint: v.hint ?? "fix what the controller's message says, then delete the pod to retry",
    },
  );
}
