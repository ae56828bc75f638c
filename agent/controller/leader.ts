// Leader election on a coordination.k8s.io Lease, ported from client-go's leaderelection + LeaseLock
// (client-node has none; the one npm package is small, young and CJS — this is ~200 lines we test).
// Expiry is judged by the LOCAL time at which we saw the record change, never by comparing the
// holder's renewTime with our clock, so clock skew between pods does not matter.
import type { Logger } from "pino";
import { AgentError, classify } from "../errors.ts";
import type { Clock } from "../ports.ts";

/** Lease `spec` as stored; times are MicroTime strings (six fraction digits). */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface StoredLease {
  spec: LeaseSpec;
  resourceVersion: string;
}

/** The Lease object; `update` is a replace with the resourceVersion, so a lost race is a conflict. */
export interface LeasePort {
  get(signal: AbortSignal): Promise<StoredLease | undefined>;
  create(spec: LeaseSpec, signal: AbortSignal): Promise<StoredLease>;
  update(spec: LeaseSpec, resourceVersion: string, signal: AbortSignal): Promise<StoredLease>;
}

export interface ElectionTiming {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

/** controller-runtime's defaults. */
export const DEFAULT_TIMING: ElectionTiming = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

const JITTER = 1.2;

/** client-go's checks: leaseDuration > renewDeadline > 1.2 × retryPeriod, all positive. */
export function timingProblems(t: ElectionTiming): string[] {
  const problems: string[] = [];
  if (!(t.retryPeriodMs > 0)) problems.push("the retry period must be positive");
  if (!(t.leaseDurationMs > t.renewDeadlineMs))
    problems.push("the lease duration must be greater than the renew deadline");
  if (!(t.renewDeadlineMs > JITTER * t.retryPeriodMs))
    problems.push(`the renew deadline must be greater than ${JITTER} × the retry period`);
  if (t.leaseDurationMs % 1000 !== 0) problems.push("the lease duration must be whole seconds (Lease field)");
  return problems;
}

/** A period of leadership: the holder and the Lease's transition count when it was taken. */
export interface Term {
  identity: string;
  transitions: number;
}

export interface ElectionCallbacks {
  /** The leader's work; must stop when `signal` aborts. Leadership is released only after it returns. */
  onStartedLeading(term: Term, signal: AbortSignal): Promise<void>;
  /** Always called when a leadership period ends (lost or released). */
  onStoppedLeading?(term: Term): void;
  onNewLeader?(identity: string): void;
}

export interface ElectorOptions {
  identity: string;
  timing: ElectionTiming;
  log: Logger;
  /** Uniform [0,1); injectable so tests are deterministic. */
  random?: () => number;
}

/** MicroTime as the apiserver parses it: exactly six fraction digits (Date gives three). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class LeaderElector {
  readonly #port: LeasePort;
  readonly #clock: Clock;
  readonly #o: ElectorOptions;
  readonly #random: () => number;
  #observed: StoredLease | undefined;
  #observedAt = 0;
  #lastHolder: string | undefined;
  /** When the last successful acquire/renew was SENT; writes are fenced on it. */
  #renewedAt = -Infinity;
  #term: Term | undefined;

  constructor(port: LeasePort, clock: Clock, options: ElectorOptions) {
    const problems = timingProblems(options.timing);
    if (problems.length > 0)
      throw new AgentError("permanent", `invalid leader election timing: ${problems.join("; ")}`, {
        hint: "set CEPH_MCS_LEASE_DURATION > CEPH_MCS_RENEW_DEADLINE > 1.2 × CEPH_MCS_RETRY_PERIOD",
      });
    this.#port = port;
    this.#clock = clock;
    this.#o = options;
    this.#random = options.random ?? Math.random;
  }

  get identity(): string {
    return this.#o.identity;
  }

  /**
   * The current term while it is safe to act as leader: the last renewal was sent less than the renew
   * deadline ago, so no other candidate can have taken over yet (they wait a whole lease duration).
   */
  term(): Term | undefined {
    if (this.#term === undefined) return undefined;
    return this.#clock.now() < this.#renewedAt + this.#o.timing.renewDeadlineMs ? this.#term : undefined;
  }

  /** Campaigns, leads, and campaigns again after a lost lease, until `signal`; then releases. */
  async run(signal: AbortSignal, callbacks: ElectionCallbacks): Promise<void> {
    while (!signal.aborted) {
      const term = await this.#acquire(signal, callbacks);
      if (term === undefined) return;
      await this.#lead(term, signal, callbacks);
    }
  }

  async #acquire(signal: AbortSignal, callbacks: ElectionCallbacks): Promise<Term | undefined> {
    this.#o.log.info({ identity: this.#o.identity }, "campaigning for the controller lease");
    while (!signal.aborted) {
      const term = await this.#tryAcquireOrRenew(signal, callbacks);
      if (term) return term;
      if (!(await this.#pause(this.#jittered(), signal))) return undefined;
    }
    return undefined;
  }

  async #lead(term: Term, signal: AbortSignal, callbacks: ElectionCallbacks): Promise<void> {
    this.#term = term;
    this.#o.log.info({ term }, "became the leader");
    const lost = new AbortController();
    const work = callbacks
      .onStartedLeading(term, AbortSignal.any([signal, lost.signal]))
      .catch((err: unknown) => this.#o.log.error({ err }, "the leader's work failed"));
    await this.#renewLoop(AbortSignal.any([signal, lost.signal]), callbacks);
    lost.abort();
    // Fencing: the work must be over before anyone else may lead (client-go's warning).
    await work;
    this.#term = undefined;
    if (signal.aborted) await this.#release();
    else this.#o.log.warn({ term }, "lost the controller lease; campaigning again");
    callbacks.onStoppedLeading?.(term);
  }

  async #renewLoop(signal: AbortSignal, callbacks: ElectionCallbacks): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs } = this.#o.timing;
    while (await this.#pause(retryPeriodMs, signal)) {
      if (await this.#tryAcquireOrRenew(signal, callbacks)) continue;
      if (this.#clock.now() >= this.#renewedAt + renewDeadlineMs) return;
    }
  }

  async #tryAcquireOrRenew(signal: AbortSignal, callbacks: ElectionCallbacks): Promise<Term | undefined> {
    const sentAt = this.#clock.now();
    try {
      const stored = await this.#attempt(sentAt, signal, callbacks);
      if (stored === undefined) return undefined;
      this.#observe(stored, sentAt, callbacks);
      this.#renewedAt = sentAt;
      return { identity: this.#o.identity, transitions: stored.spec.leaseTransitions ?? 0 };
    } catch (err) {
      if (!signal.aborted) this.#logFailure(err);
      return undefined;
    }
  }

  async #attempt(
    now: number,
    signal: AbortSignal,
    callbacks: ElectionCallbacks,
  ): Promise<StoredLease | undefined> {
    const fast = this.#term ? await this.#renewCached(now, signal) : undefined;
    if (fast) return fast;
    const current = await this.#port.get(signal);
    if (current === undefined) return this.#port.create(this.#record(now, undefined), signal);
    // Observed when the answer came, not when the request left: a slow or stalled request must not
    // make the holder's last renewal look older than it is (client-go reads the clock after Get too).
    this.#observe(current, this.#clock.now(), callbacks);
    const holder = current.spec.holderIdentity ?? "";
    if (holder !== "" && holder !== this.#o.identity && !this.#expired(current, now)) {
      // Someone else holds it: if we thought we led, stop acting as leader at once.
      this.#renewedAt = -Infinity;
      return undefined;
    }
    return this.#port.update(this.#record(now, current.spec), current.resourceVersion, signal);
  }

  /** Leader's fast path: replace the object we last wrote; any failure falls back to a fresh read. */
  async #renewCached(now: number, signal: AbortSignal): Promise<StoredLease | undefined> {
    const cached = this.#observed;
    if (cached?.spec.holderIdentity !== this.#o.identity) return undefined;
    try {
      return await this.#port.update(this.#record(now, cached.spec), cached.resourceVersion, signal);
    } catch (err) {
      if (classify(err) === "permanent") throw err;
      return undefined;
    }
  }

  #record(now: number, previous: LeaseSpec | undefined): LeaseSpec {
    const mine = previous?.holderIdentity === this.#o.identity;
    const transitions = previous?.leaseTransitions ?? 0;
    return {
      holderIdentity: this.#o.identity,
      leaseDurationSeconds: Math.ceil(this.#o.timing.leaseDurationMs / 1000),
      acquireTime: mine && previous.acquireTime ? previous.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: previous === undefined || mine ? transitions : transitions + 1,
    };
  }

  #observe(lease: StoredLease, now: number, callbacks: ElectionCallbacks): void {
    if (lease.resourceVersion !== this.#observed?.resourceVersion) {
      this.#observed = lease;
      this.#observedAt = now;
    }
    const holder = lease.spec.holderIdentity ?? "";
    if (holder !== "" && holder !== this.#lastHolder) {
      this.#lastHolder = holder;
      callbacks.onNewLeader?.(holder);
    }
  }

  #expired(lease: StoredLease, now: number): boolean {
    const seconds = lease.spec.leaseDurationSeconds ?? this.#o.timing.leaseDurationMs / 1000;
    return this.#observedAt + seconds * 1000 <= now;
  }

  /** On shutdown: an empty holder lets the next candidate take over at its next retry. */
  async #release(): Promise<void> {
    const cached = this.#observed;
    if (cached?.spec.holderIdentity !== this.#o.identity) return;
    const now = microTime(this.#clock.now());
    const spec: LeaseSpec = {
      holderIdentity: "",
      leaseDurationSeconds: 1,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: cached.spec.leaseTransitions ?? 0,
    };
    try {
      this.#observed = await this.#port.update(spec, cached.resourceVersion, AbortSignal.timeout(5000));
      this.#o.log.info("released the controller lease");
    } catch (err) {
      this.#o.log.warn(
        { err },
        "could not release the controller lease; the next leader waits for it to expire",
      );
    }
  }

  #logFailure(err: unknown): void {
    const kind = classify(err);
    if (kind === "conflict") this.#o.log.debug("lost a lease race (409 Conflict)");
    else this.#o.log.warn({ err, kind }, "failed to acquire or renew the controller lease");
  }

  #jittered(): number {
    return this.#o.timing.retryPeriodMs * (1 + this.#random() * JITTER);
  }

  /** Sleeps; false when `signal` ended it. */
  async #pause(ms: number, signal: AbortSignal): Promise<boolean> {
    try {
      await this.#clock.sleep(ms, signal);
      return true;
    } catch {
      return false;
    }
  }
}
