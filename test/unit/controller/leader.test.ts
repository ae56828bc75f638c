import { test } from "node:test";
import assert from "node:assert/strict";
import { setImmediate as tick } from "node:timers/promises";
import fc from "fast-check";
import { pino } from "pino";
import {
  DEFAULT_TIMING,
  LeaderElector,
  microTime,
  timingProblems,
  type ElectionCallbacks,
  type ElectionTiming,
  type LeasePort,
  type LeaseSpec,
  type StoredLease,
  type Term,
} from "../../../agent/controller/leader.ts";
import { AgentError } from "../../../agent/errors.ts";
import type { Clock } from "../../../agent/ports.ts";

const T0 = Date.UTC(2025, 5, 1, 12, 0, 0, 0);
const TIMING: ElectionTiming = DEFAULT_TIMING; // 15 s / 10 s / 2 s
const log = pino({ level: "silent" });

/** Lets every continuation that is not waiting for the clock run. */
async function flush(): Promise<void> {
  await tick();
  await tick();
}

interface Timer {
  at: number;
  seq: number;
  fire: () => void;
}

/** Time moves only when the test says; sleeps resolve in deadline order, abort rejects them. */
class FakeClock implements Clock {
  #now = T0;
  #seq = 0;
  #timers: Timer[] = [];
  /** Called after every timer and its continuations: where the tests check invariants. */
  onEvent: (() => void) | undefined;

  now(): number {
    return this.#now;
  }

  get elapsed(): number {
    return this.#now - T0;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const onAbort = () => {
        this.#timers = this.#timers.filter((t) => t !== timer);
        reject(signal?.reason as Error);
      };
      const timer: Timer = {
        at: this.#now + Math.max(0, ms),
        seq: this.#seq++,
        fire: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#timers.push(timer);
    });
  }

  /** Moves to T0 + `elapsed`, firing every timer due on the way, each at its own time. */
  async advanceTo(elapsed: number): Promise<void> {
    const target = T0 + elapsed;
    await flush();
    for (let next = this.#next(target); next; next = this.#next(target)) {
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = next.at;
      next.fire();
      await flush();
      this.onEvent?.();
    }
    this.#now = Math.max(this.#now, target);
    await flush();
    this.onEvent?.();
  }

  advance(ms: number): Promise<void> {
    return this.advanceTo(this.elapsed + ms);
  }

  #next(target: number): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.#timers)
      if (t.at <= target && (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq))) best = t;
    return best;
  }
}

/** The apiserver's view of one Lease: resourceVersions, 409 on a stale one or an existing object. */
class LeaseStore {
  current: StoredLease | undefined;
  conflicts = 0;
  #rv = 100;

  read(): StoredLease | undefined {
    return this.current && structuredClone(this.current);
  }

  create(spec: LeaseSpec): StoredLease {
    if (this.current) {
      this.conflicts++;
      throw new AgentError("conflict", "leases.coordination.k8s.io already exists", { object: "Lease ns/l" });
    }
    return this.#write(spec);
  }

  update(spec: LeaseSpec, resourceVersion: string): StoredLease {
    if (!this.current) throw new AgentError("notFound", "lease not found", { object: "Lease ns/l" });
    if (resourceVersion !== this.current.resourceVersion) {
      this.conflicts++;
      throw new AgentError("conflict", "the object has been modified", { object: "Lease ns/l" });
    }
    return this.#write(spec);
  }

  /** Someone else (kubectl, another controller) writes the Lease. */
  force(spec: LeaseSpec): void {
    this.#write(spec);
  }

  #write(spec: LeaseSpec): StoredLease {
    this.current = { spec: structuredClone(spec), resourceVersion: String(++this.#rv) };
    return structuredClone(this.current);
  }
}

type Mode = "ok" | "fail" | "forbidden" | "hang" | "dead";

/** One process's connection to the apiserver; can be cut (fail), stalled (hang) or slow. */
class LeaseConnection implements LeasePort {
  mode: Mode = "ok";
  readonly calls = { get: 0, create: 0, update: 0 };
  /** Latency of the next reads (ms of fake time before the read happens). */
  readonly slowReads: number[] = [];
  #heal: (() => void)[] = [];
  readonly #store: LeaseStore;
  readonly #clock: FakeClock;

  constructor(store: LeaseStore, clock: FakeClock) {
    this.#store = store;
    this.#clock = clock;
  }

  heal(): void {
    this.mode = "ok";
    for (const resume of this.#heal.splice(0)) resume();
  }

  async get(signal: AbortSignal): Promise<StoredLease | undefined> {
    this.calls.get++;
    const latency = this.slowReads.shift() ?? 0;
    if (latency > 0) await this.#clock.sleep(latency, signal);
    await this.#gate(signal);
    return this.#store.read();
  }

  async create(spec: LeaseSpec, signal: AbortSignal): Promise<StoredLease> {
    this.calls.create++;
    await this.#gate(signal);
    return this.#store.create(spec);
  }

  async update(spec: LeaseSpec, resourceVersion: string, signal: AbortSignal): Promise<StoredLease> {
    this.calls.update++;
    await this.#gate(signal);
    return this.#store.update(spec, resourceVersion);
  }

  async #gate(signal: AbortSignal): Promise<void> {
    await Promise.resolve(); // a request is never answered synchronously
    if (this.mode === "fail") throw new AgentError("retryable", "connect ECONNREFUSED (partition)");
    if (this.mode === "forbidden") throw new AgentError("permanent", "leases is forbidden");
    if (this.mode === "dead") await new Promise(() => undefined); // the process is gone
    if (this.mode === "hang") await this.#stalled(signal);
  }

  #stalled(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      signal.addEventListener("abort", () => reject(signal.reason as Error), { once: true });
      this.#heal.push(resolve);
    });
  }
}

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

interface Candidate {
  identity: string;
  conn: LeaseConnection;
  elector: LeaderElector;
  stop: AbortController;
  /** What happened to this candidate, in order (shared timeline in World.timeline too). */
  events: string[];
  terms: Term[];
  done: Promise<void>;
  settled: boolean;
  /** The leader's work waits for this after its signal aborted (a slow drain). */
  drain: Deferred | undefined;
  /** Called from onStoppedLeading, to look at the world at that moment. */
  onStopped: (() => void) | undefined;
  killed: boolean;
}

interface Write {
  by: string;
  transitions: number;
  at: number;
}

class World {
  readonly clock = new FakeClock();
  readonly store = new LeaseStore();
  readonly candidates: Candidate[] = [];
  readonly timeline: string[] = [];
  /** What leaders wrote, fenced on term() as the reconciler does. */
  readonly writes: Write[] = [];
  maxLeaders = 0;

  constructor(checkInvariant = true) {
    if (checkInvariant) this.clock.onEvent = () => this.check();
  }

  /** At most one live process may consider itself leader at any instant. */
  check(): void {
    const leaders = this.live().filter((c) => c.elector.term() !== undefined);
    this.maxLeaders = Math.max(this.maxLeaders, leaders.length);
    assert.ok(
      leaders.length <= 1,
      `two leaders at +${this.clock.elapsed} ms: ${leaders.map((c) => c.identity).join(", ")}; ` +
        this.timeline.slice(-12).join(" | "),
    );
  }

  /** The stored Lease spec (a call, so that assertions do not narrow it for the next ones). */
  lease(): LeaseSpec | undefined {
    return this.store.current?.spec;
  }

  live(): Candidate[] {
    return this.candidates.filter((c) => !c.killed && !c.settled);
  }

  leader(): Candidate | undefined {
    const leaders = this.live().filter((c) => c.elector.term() !== undefined);
    return leaders.length === 1 ? leaders[0] : undefined;
  }

  /** `slowReads` are set before the first request leaves (run() sends it synchronously). */
  start(identity: string, o: { random?: () => number; slowReads?: number[] } = {}): Candidate {
    const conn = new LeaseConnection(this.store, this.clock);
    conn.slowReads.push(...(o.slowReads ?? []));
    const random = o.random ?? (() => 0);
    const elector = new LeaderElector(conn, this.clock, { identity, timing: TIMING, log, random });
    const c: Candidate = {
      identity,
      conn,
      elector,
      stop: new AbortController(),
      events: [],
      terms: [],
      done: Promise.resolve(),
      settled: false,
      drain: undefined,
      onStopped: undefined,
      killed: false,
    };
    c.done = elector.run(c.stop.signal, this.#callbacks(c)).then(() => {
      c.settled = true;
    });
    this.candidates.push(c);
    return c;
  }

  #note(c: Candidate, what: string): void {
    c.events.push(what);
    this.timeline.push(`+${this.clock.elapsed} ${c.identity} ${what}`);
  }

  #callbacks(c: Candidate): ElectionCallbacks {
    return {
      onStartedLeading: async (term, signal) => {
        c.terms.push(term);
        this.#note(c, `started ${term.transitions}`);
        await this.#work(c, signal);
        this.#note(c, "work done");
      },
      onStoppedLeading: (term) => {
        c.onStopped?.();
        this.#note(c, `stopped ${term.transitions}`);
      },
      onNewLeader: (identity) => this.#note(c, `leader ${identity}`),
    };
  }

  /** The leader's work: a fenced write every second until its signal, then an optional slow drain. */
  async #work(c: Candidate, signal: AbortSignal): Promise<void> {
    while (!signal.aborted && !c.killed) {
      const term = c.elector.term();
      if (term)
        this.writes.push({ by: term.identity, transitions: term.transitions, at: this.clock.elapsed });
      await this.clock.sleep(1000, signal).catch(() => undefined);
    }
    await c.drain?.promise;
  }
}

/** Leaders' writes never interleave: a later term always has more transitions than any earlier one. */
function assertTermsDoNotOverlap(writes: readonly Write[]): void {
  let last: Write | undefined;
  for (const w of writes) {
    if (last && w.by !== last.by)
      assert.ok(
        w.transitions > last.transitions,
        `write of ${w.by} after ${last.by}: ${JSON.stringify([last, w])}`,
      );
    if (last)
      assert.ok(w.transitions >= last.transitions, `an older term wrote again: ${JSON.stringify([last, w])}`);
    last = w;
  }
}

const MICRO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

// --- timings and MicroTime -------------------------------------------------------------------------------

test("timingProblems: controller-runtime's defaults and client-go's example are fine", () => {
  assert.deepEqual(DEFAULT_TIMING, {
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
  });
  assert.deepEqual(timingProblems(DEFAULT_TIMING), []);
  assert.deepEqual(
    timingProblems({ leaseDurationMs: 60_000, renewDeadlineMs: 15_000, retryPeriodMs: 5_000 }),
    [],
  );
  assert.deepEqual(
    timingProblems({ leaseDurationMs: 3_000, renewDeadlineMs: 2_401, retryPeriodMs: 2_000 }),
    [],
  );
});

const badTimings: [ElectionTiming, RegExp][] = [
  [
    { leaseDurationMs: 10_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
    /lease duration must be greater/,
  ],
  [
    { leaseDurationMs: 15_000, renewDeadlineMs: 2_400, retryPeriodMs: 2_000 },
    /renew deadline must be greater than 1.2/,
  ],
  [{ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 0 }, /retry period must be positive/],
  [{ leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: -1 }, /retry period must be positive/],
  [{ leaseDurationMs: 15_500, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 }, /whole seconds/],
  [
    { leaseDurationMs: Number.NaN, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
    /lease duration must be greater/,
  ],
];
for (const [timing, problem] of badTimings) {
  test(`timingProblems and the constructor reject ${JSON.stringify(timing)}`, () => {
    assert.match(timingProblems(timing).join("; "), problem);
    assert.throws(
      () =>
        new LeaderElector(new LeaseConnection(new LeaseStore(), new FakeClock()), new FakeClock(), {
          identity: "a",
          timing,
          log,
        }),
      (err: unknown) =>
        err instanceof AgentError &&
        err.kind === "permanent" &&
        problem.test(err.message) &&
        /CEPH_MCS_LEASE_DURATION/.test(err.message),
    );
  });
}

test("microTime: six fraction digits, the instant unchanged", () => {
  assert.equal(microTime(Date.UTC(2024, 0, 2, 3, 4, 5, 123)), "2024-01-02T03:04:05.123000Z");
  assert.equal(microTime(Date.UTC(2024, 0, 2, 3, 4, 5, 0)), "2024-01-02T03:04:05.000000Z");
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Date.UTC(9999, 11, 31) }), (ms) => {
      const text = microTime(ms);
      assert.match(text, MICRO);
      assert.equal(Date.parse(text), ms);
    }),
  );
});

// --- one candidate ---------------------------------------------------------------------------------------

test("single candidate: creates the Lease, leads, renews on the cached object without reading", async () => {
  const w = new World();
  const a = w.start("a");
  await w.clock.advanceTo(0);
  assert.deepEqual(w.lease(), {
    holderIdentity: "a",
    leaseDurationSeconds: 15,
    acquireTime: microTime(T0),
    renewTime: microTime(T0),
    leaseTransitions: 0,
  });
  assert.deepEqual(a.elector.term(), { identity: "a", transitions: 0 });
  assert.deepEqual(a.events, ["leader a", "started 0"]);
  assert.deepEqual(a.conn.calls, { get: 1, create: 1, update: 0 });

  await w.clock.advanceTo(2_000);
  assert.equal(w.lease()?.renewTime, microTime(T0 + 2_000));
  assert.equal(w.lease()?.acquireTime, microTime(T0));

  await w.clock.advanceTo(60_000);
  assert.deepEqual(a.conn.calls, { get: 1, create: 1, update: 30 });
  assert.equal(w.lease()?.leaseTransitions, 0);
  assert.equal(w.store.conflicts, 0);
  assert.deepEqual(a.events, ["leader a", "started 0"]);
  assert.equal(w.writes.length, 61);
  a.stop.abort();
  await a.done;
});

test("an aborted signal before the start: returns without touching the Lease", async () => {
  const w = new World();
  const stop = new AbortController();
  stop.abort();
  const conn = new LeaseConnection(w.store, w.clock);
  const elector = new LeaderElector(conn, w.clock, { identity: "a", timing: TIMING, log });
  await elector.run(stop.signal, { onStartedLeading: () => Promise.resolve() });
  assert.deepEqual(conn.calls, { get: 0, create: 0, update: 0 });
  assert.equal(elector.term(), undefined);
});

// --- several candidates ----------------------------------------------------------------------------------

for (const n of [2, 3]) {
  test(`${n} candidates started together: exactly one leads, the lost create race is a 409`, async () => {
    const w = new World();
    const all = ["a", "b", "c"].slice(0, n).map((id) => w.start(id));
    await w.clock.advanceTo(0);
    const leader = w.leader();
    assert.ok(leader, "one leader at once");
    assert.ok(w.store.conflicts >= 1, "the others lost the create race with 409");
    assert.equal(w.lease()?.holderIdentity, leader.identity);

    await w.clock.advanceTo(120_000);
    assert.equal(w.leader(), leader);
    assert.equal(w.maxLeaders, 1);
    for (const c of all) {
      assert.equal(c.events[0], `leader ${leader.identity}`);
      if (c !== leader) assert.deepEqual(c.events, [`leader ${leader.identity}`]);
      if (c !== leader) assert.ok(c.conn.calls.get > 50, "followers keep watching the Lease");
    }
    for (const c of all) c.stop.abort();
    await Promise.all(all.map((c) => c.done));
  });
}

test("a follower that stops: returns, writes nothing, no stopped callback", async () => {
  const w = new World();
  const a = w.start("a");
  await w.clock.advanceTo(0);
  const b = w.start("b");
  await w.clock.advanceTo(5_000);
  const before = structuredClone(w.store.current);
  b.stop.abort();
  await b.done;
  assert.deepEqual(b.events, ["leader a"]);
  assert.equal(b.conn.calls.update + b.conn.calls.create, 0);
  await w.clock.advanceTo(5_000);
  assert.deepEqual(w.lease()?.holderIdentity, before?.spec.holderIdentity);
  a.stop.abort();
  await a.done;
});

// --- losing the lease ------------------------------------------------------------------------------------

interface Handover {
  w: World;
  a: Candidate;
  b: Candidate;
  aTermEnded: number | undefined;
  bStarted: number | undefined;
}

/** a leads from 0, b follows; a's connection breaks at +5 s; runs to +40 s watching both terms. */
async function partitionLeader(mode: Mode): Promise<Handover> {
  const w = new World();
  const a = w.start("a");
  const b = w.start("b");
  const h: Handover = { w, a, b, aTermEnded: undefined, bStarted: undefined };
  w.clock.onEvent = () => {
    w.check();
    if (h.aTermEnded === undefined && a.elector.term() === undefined) h.aTermEnded = w.clock.elapsed;
    if (h.bStarted === undefined && b.elector.term() !== undefined) h.bStarted = w.clock.elapsed;
  };
  await w.clock.advanceTo(0);
  assert.ok(a.elector.term() && !b.elector.term());
  await w.clock.advanceTo(5_000);
  a.conn.mode = mode;
  await w.clock.advanceTo(40_000);
  return h;
}

for (const mode of ["fail", "forbidden", "hang"] as const) {
  test(`leader's requests ${mode}: its term() ends at renew deadline, before b can take over`, async () => {
    const { w, a, b, aTermEnded, bStarted } = await partitionLeader(mode);
    // Last renewal sent at +4 s: fenced from +14 s; b saw that renewal at +4 s at the earliest.
    assert.equal(aTermEnded, 14_000);
    assert.ok(bStarted !== undefined && bStarted >= 4_000 + 15_000, `b started at ${bStarted}`);
    assert.ok(aTermEnded < bStarted);
    assert.equal(w.lease()?.holderIdentity, "b");
    assert.equal(w.lease()?.leaseTransitions, 1);
    assert.equal(w.lease()?.acquireTime, microTime(T0 + bStarted));
    assert.deepEqual(b.terms, [{ identity: "b", transitions: 1 }]);
    assert.deepEqual(b.events, ["leader a", "leader b", "started 1"]);
    assert.equal(w.maxLeaders, 1);
    if (mode === "hang") {
      // a cannot know yet (its renewal is in flight): not stopped, but fenced by the clock alone.
      assert.deepEqual(a.events, ["leader a", "started 0"]);
      a.conn.heal();
      await w.clock.advance(0);
    }
    // a learns it lost: its work is over before onStoppedLeading; it follows b from now on.
    assert.deepEqual(
      a.events.filter((e) => e !== "leader b"),
      ["leader a", "started 0", "work done", "stopped 0"],
    );
    a.conn.heal();
    await w.clock.advance(30_000);
    assert.equal(w.leader(), b);
    assert.ok(a.events.includes("leader b"));
    assertTermsDoNotOverlap(w.writes);
    for (const c of [a, b]) c.stop.abort();
    await Promise.all([a.done, b.done]);
  });
}

test("a failed renewal within the renew deadline is retried and leadership kept", async () => {
  const w = new World();
  const a = w.start("a");
  const b = w.start("b");
  await w.clock.advanceTo(1_000);
  a.conn.mode = "fail";
  await w.clock.advanceTo(9_000); // renewals at +2…+8 s fail; the deadline is +10 s
  assert.ok(a.elector.term());
  a.conn.heal();
  await w.clock.advanceTo(60_000);
  assert.equal(w.leader(), a);
  assert.deepEqual(a.events, ["leader a", "started 0"]);
  assert.deepEqual(b.terms, []);
  for (const c of [a, b]) c.stop.abort();
  await Promise.all([a.done, b.done]);
});

test("a slow read does not shorten the holder's lease: observed time is when the record was seen", async () => {
  const w = new World();
  const a = w.start("a");
  await w.clock.advanceTo(1_000);
  // b's first read is sent at +1 s and answered at +9.5 s with a's renewal of +8 s.
  const b = w.start("b", { slowReads: [8_500] });
  await w.clock.advanceTo(9_000);
  assert.deepEqual(b.events, [], "b has not seen the Lease yet");
  a.conn.mode = "fail"; // a's last renewal: +8 s → fenced from +18 s
  let bStarted: number | undefined;
  w.clock.onEvent = () => {
    w.check();
    if (bStarted === undefined && b.elector.term()) bStarted = w.clock.elapsed;
  };
  await w.clock.advanceTo(40_000);
  assert.equal(a.elector.term(), undefined);
  assert.deepEqual(b.events.slice(0, 1), ["leader a"]);
  // Expiry counts from +9.5 s, when b saw the record, not from +1 s, when it asked.
  assert.ok(bStarted !== undefined && bStarted >= 9_500 + 15_000, `b took over at +${bStarted} ms`);
  for (const c of [a, b]) c.stop.abort();
  a.conn.heal();
  await Promise.all([a.done, b.done]);
});

test("another holder seen on renewal (Lease overwritten): term() ends at once, work stops, then stopped", async () => {
  const w = new World();
  const a = w.start("a");
  await w.clock.advanceTo(3_000);
  w.store.force({ holderIdentity: "intruder", leaseDurationSeconds: 15, leaseTransitions: 7 });
  await w.clock.advanceTo(4_000); // a's fast-path renewal gets 409, the fresh read shows the intruder
  assert.equal(a.elector.term(), undefined);
  assert.deepEqual(a.events, ["leader a", "started 0", "leader intruder", "work done", "stopped 0"]);
  // The intruder never renews: a takes over after a whole lease duration and counts the transition.
  await w.clock.advanceTo(30_000);
  assert.deepEqual(a.terms, [
    { identity: "a", transitions: 0 },
    { identity: "a", transitions: 8 },
  ]);
  assert.equal(w.lease()?.holderIdentity, "a");
  a.stop.abort();
  await a.done;
});

test("take-overs count leaseTransitions: a → b → a", async () => {
  const w = new World();
  const a = w.start("a");
  const b = w.start("b");
  await w.clock.advanceTo(1_000);
  a.conn.mode = "fail";
  await w.clock.advanceTo(40_000);
  assert.equal(w.leader(), b);
  a.conn.heal();
  await w.clock.advanceTo(45_000);
  b.conn.mode = "fail";
  await w.clock.advanceTo(90_000);
  assert.equal(w.leader(), a);
  assert.deepEqual([...a.terms, ...b.terms].map((t) => `${t.identity}${t.transitions}`).sort(), [
    "a0",
    "a2",
    "b1",
  ]);
  assert.equal(w.lease()?.leaseTransitions, 2);
  assertTermsDoNotOverlap(w.writes);
  b.conn.heal();
  for (const c of [a, b]) c.stop.abort();
  await Promise.all([a.done, b.done]);
});

test("same identity again after a short partition: the lease is renewed as its own, no transition", async () => {
  const w = new World();
  const a = w.start("a");
  await w.clock.advanceTo(1_000);
  a.conn.mode = "fail";
  await w.clock.advanceTo(13_000); // lost at +10 s (last renewal sent at 0); nobody else wants it
  assert.equal(a.elector.term(), undefined);
  a.conn.heal();
  await w.clock.advanceTo(20_000);
  assert.deepEqual(a.terms, [
    { identity: "a", transitions: 0 },
    { identity: "a", transitions: 0 },
  ]);
  assert.equal(w.lease()?.acquireTime, microTime(T0)); // kept while the holder is unchanged
  a.stop.abort();
  await a.done;
});

// --- release on shutdown ---------------------------------------------------------------------------------

test("abort: the leader's work finishes first, then the Lease is released, then onStoppedLeading", async () => {
  const w = new World();
  const a = w.start("a");
  const b = w.start("b");
  await w.clock.advanceTo(3_000);
  a.drain = deferred();
  const updatesBefore = a.conn.calls.update;
  a.stop.abort();
  await w.clock.advanceTo(4_500); // the work is still draining: nothing released, nobody else leads
  assert.equal(a.settled, false);
  assert.equal(w.lease()?.holderIdentity, "a");
  assert.equal(a.conn.calls.update, updatesBefore, "no renewal after the abort");
  assert.deepEqual(b.terms, []);
  assert.deepEqual(a.events, ["leader a", "started 0"]);

  let holderWhenStopped: string | undefined;
  a.onStopped = () => (holderWhenStopped = w.lease()?.holderIdentity);
  a.drain.resolve();
  await a.done;
  assert.deepEqual(a.events, ["leader a", "started 0", "work done", "stopped 0"]);
  assert.equal(holderWhenStopped, "", "released before onStoppedLeading");
  assert.deepEqual(w.lease(), {
    holderIdentity: "",
    leaseDurationSeconds: 1,
    acquireTime: microTime(T0 + 4_500),
    renewTime: microTime(T0 + 4_500),
    leaseTransitions: 0,
  });
  assert.equal(a.elector.term(), undefined);

  // b takes the released Lease at its next retry, long before a's lease would have expired.
  await w.clock.advanceTo(4_500 + TIMING.retryPeriodMs);
  assert.equal(w.leader(), b);
  assert.deepEqual(b.terms, [{ identity: "b", transitions: 1 }]);
  assert.deepEqual(b.events, ["leader a", "leader b", "started 1"]);
  assertTermsDoNotOverlap(w.writes);
  b.stop.abort();
  await b.done;
});

test("abort after the lease was lost: nothing is released (the stale resourceVersion would be refused)", async () => {
  const w = new World();
  const a = w.start("a");
  await w.clock.advanceTo(1_000);
  a.conn.mode = "hang";
  const b = w.start("b");
  await w.clock.advanceTo(40_000);
  assert.equal(w.leader(), b);
  a.conn.heal();
  a.stop.abort();
  await a.done;
  await w.clock.advance(0);
  assert.equal(w.lease()?.holderIdentity, "b");
  assert.equal(w.leader(), b);
  b.stop.abort();
  await b.done;
});

// --- many hand-overs, random faults ----------------------------------------------------------------------

type Fault = "fail" | "hang" | "heal" | "slow-read" | "sigterm" | "sigkill" | "none";
const step = fc.record({
  dt: fc.integer({ min: 100, max: 9_000 }),
  who: fc.integer({ min: 0, max: 2 }),
  fault: fc.constantFrom<Fault>("fail", "hang", "heal", "heal", "slow-read", "sigterm", "sigkill", "none"),
  latency: fc.integer({ min: 0, max: 14_000 }),
});

function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Chaos {
  readonly w = new World();
  readonly slots: Candidate[];
  #n = 0;
  readonly #random: () => number;

  constructor(seed: number) {
    this.#random = mulberry32(seed);
    this.slots = [0, 1, 2].map(() => this.#spawn());
  }

  #spawn(): Candidate {
    return this.w.start(`p${this.#n++}`, { random: this.#random });
  }

  async apply(s: { who: number; fault: Fault; latency: number }): Promise<void> {
    const c = this.slots[s.who]!;
    if (s.fault === "fail" || s.fault === "hang") c.conn.mode = s.fault;
    if (s.fault === "heal") c.conn.heal();
    if (s.fault === "slow-read") c.conn.slowReads.push(s.latency);
    if (s.fault === "sigkill") {
      c.killed = true;
      c.conn.mode = "dead";
      this.slots[s.who] = this.#spawn();
    }
    if (s.fault === "sigterm") {
      c.conn.heal();
      c.stop.abort();
      await c.done;
      this.slots[s.who] = this.#spawn();
    }
  }

  async settle(): Promise<void> {
    for (const c of this.slots) {
      c.conn.heal();
      c.conn.slowReads.length = 0;
    }
    await this.w.clock.advance(TIMING.leaseDurationMs + 3 * TIMING.retryPeriodMs * 2.2 + 20_000);
  }
}

test("property: random partitions, stalls, slow reads, SIGTERM and SIGKILL never give two leaders", async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer(), fc.array(step, { minLength: 5, maxLength: 25 }), async (seed, steps) => {
      const chaos = new Chaos(seed);
      for (const s of steps) {
        await chaos.w.clock.advance(s.dt);
        await chaos.apply(s);
      }
      await chaos.settle();
      // Safety all along (checked at every event), writes never interleave, and then one leader again.
      assertTermsDoNotOverlap(chaos.w.writes);
      assert.ok(chaos.w.leader(), `no leader after healing: ${chaos.w.timeline.slice(-8).join(" | ")}`);
      for (const c of chaos.slots) c.stop.abort();
      await Promise.all(chaos.slots.map((c) => c.done));
    }),
    { numRuns: 100 },
  );
});
