// Moves running mons from their current address (a ClusterIP) to their global IP IN PLACE: same names,
// ranks and stores. Verified on real pacific 16.2.15 and reef 18.2.7 mons (research/mon-address-
// migration.md, test/e2e/migration.test.ts). Per mon, non-leaders first and the leader last:
//   all monmap members in quorum on one monmap epoch → `ceph mon set-addrs <id> <addrvec>` through
//   another mon → the mon stores the new map, exits ("removed from monmap, suicide", sometimes with
//   SIGABRT/SIGSEGV) and is restarted by the kubelet → wait until the monmap shows the new addrvec,
//   the same rank, every mon in quorum, and the mon itself agrees → check every monmap epoch in
//   between changed nothing else → settle.
// Client configs carry old + new addresses before the first move and only the new ones after the last.
// Any doubt stops the migration with where and what to do; it never pushes on. Re-running is safe:
// mons already on their target are skipped (set-addrs is never sent twice: even an unchanged addrvec
// makes a new monmap epoch and an election).
import { classify, type ErrorKind } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Clock } from "../ports.ts";
import { ipFamily } from "../ceph/flags.ts";
import {
  addrvecIPs,
  findMon,
  formatAddrvec,
  isInQuorumState,
  monAddrvec,
  sameAddrvec,
  type AddrVec,
  type CephPort,
  type MonMap,
  type QuorumStatus,
} from "../ceph/monmap.ts";

export interface MonTarget {
  id: string;
  /** The global IP, bare. */
  to: string;
  msgr2Only: boolean;
}

/** Bare IPs; `from` equals `to` for a mon that is already on its target. */
export interface AddressMove {
  id: string;
  from: string;
  to: string;
}

export type PublishPhase = "old+new" | "new-only";

export interface TimelineEvent {
  at: number;
  event: string;
  detail: string;
}

export interface MigrationTimings {
  /** From set-addrs until the mon is back in quorum advertising the new addrvec. */
  waitTimeoutMs: number;
  /** Before each step (and at the start): until every mon is in quorum on one monmap epoch. */
  quorumTimeoutMs: number;
  /** After each step, before the next. */
  settleMs: number;
  /** Between two looks at the cluster while waiting. */
  pollMs: number;
}

export const DEFAULT_TIMINGS: MigrationTimings = {
  waitTimeoutMs: 120_000,
  quorumTimeoutMs: 60_000,
  settleMs: 10_000,
  pollMs: 1_000,
};

export interface MigrationDeps {
  ceph: CephPort;
  clock: Clock;
  log: Logger;
  /** Client configs (Secret mon_host, CSI) must carry old+new addresses before the first move and only new after the last. */
  publish(phase: PublishPhase, addrs: AddressMove[]): Promise<void>;
  onTimeline?(e: TimelineEvent): void;
  timings?: Partial<MigrationTimings>;
}

export type MigrationPhase =
  "read" | "validate" | "publish" | "precheck" | "set-addrs" | "wait" | "verify" | "final";

export interface MigrationStop {
  phase: MigrationPhase;
  /** The mon being moved when it stopped, if any. */
  mon?: string;
  kind: ErrorKind | "aborted";
  reason: string;
  /** What the operator should do. */
  hint: string;
}

export interface StepReport {
  id: string;
  rank: number;
  /** Whether it led the quorum when its step began. */
  leader: boolean;
  from: string;
  to: string;
  /** The mon the command went through. */
  via: string;
  epochBefore: number;
  epochAfter: number;
  /** Monmap epochs beyond the one expected: reef's leader re-runs a command cut off by the election. */
  extraEpochs: number;
  /** set-addrs sent → reply (undefined: no reply, the result was checked instead). */
  replyMs: number | undefined;
  /** set-addrs sent → back in quorum with the new addrvec, checked. */
  doneMs: number;
}

export interface MigrationReport {
  /** migrated: at least one mon moved; unchanged: all were already there; stopped / aborted: see `stop`. */
  outcome: "migrated" | "unchanged" | "stopped" | "aborted";
  moved: string[];
  alreadyThere: string[];
  steps: StepReport[];
  stop?: MigrationStop;
  /** The monmap epoch last seen. */
  epoch?: number;
}

export async function migrateMons(
  targets: MonTarget[],
  deps: MigrationDeps,
  signal: AbortSignal,
): Promise<MigrationReport> {
  return new Migration(targets, deps, signal).run();
}

/** Internal: ends the run with a report (never escapes migrateMons). */
class Stop extends Error {
  readonly stop: MigrationStop;
  constructor(stop: MigrationStop) {
    super(stop.reason);
    this.stop = stop;
  }
}

const HINT_QUORUM =
  "bring every mon back into quorum (`ceph quorum_status`, the mon pods' logs), then run the migration again";
const HINT_RERUN = "run the migration again: mons already on their global IP are skipped";
const HINT_FIX_RERUN = "fix that, then run the migration again: mons already on their global IP are skipped";

interface Plan {
  moves: AddressMove[];
  pending: Set<string>;
  want: Map<string, AddrVec>;
}

interface Look {
  done: boolean;
  why: string;
  quorum?: QuorumStatus;
}

class Migration {
  readonly #targets: MonTarget[];
  readonly #deps: MigrationDeps;
  readonly #signal: AbortSignal;
  readonly #t: MigrationTimings;
  readonly #report: MigrationReport = { outcome: "stopped", moved: [], alreadyThere: [], steps: [] };
  #phase: MigrationPhase = "read";
  #mon: string | undefined;
  #lastQuorum = "";
  #lastEpoch: number | undefined;

  constructor(targets: MonTarget[], deps: MigrationDeps, signal: AbortSignal) {
    this.#targets = targets;
    this.#deps = deps;
    this.#signal = signal;
    this.#t = { ...DEFAULT_TIMINGS, ...deps.timings };
  }

  async run(): Promise<MigrationReport> {
    try {
      this.#event("start", this.#targets.map((t) => `mon.${t.id} → ${t.to}`).join(", "));
      const first = await this.#wholeQuorum("read");
      const plan = this.#plan(first);
      await this.#migrate(plan);
      this.#report.outcome = this.#report.moved.length > 0 ? "migrated" : "unchanged";
      this.#event("done", `${this.#report.outcome}: moved ${this.#report.moved.join(",") || "none"}`);
    } catch (err) {
      this.#stopped(err);
    }
    if (this.#lastEpoch !== undefined) this.#report.epoch = this.#lastEpoch;
    return this.#report;
  }

  async #migrate(plan: Plan): Promise<void> {
    if (plan.pending.size > 0) await this.#publish("old+new", plan.moves);
    while (plan.pending.size > 0) {
      this.#phase = "precheck";
      this.#mon = undefined;
      const q = await this.#wholeQuorum("precheck");
      const id = nextMon(q, plan.pending);
      await this.#step(id, q, plan.want.get(id) ?? []);
      plan.pending.delete(id);
      this.#report.moved.push(id);
      if (plan.pending.size > 0) await this.#settle();
    }
    this.#mon = undefined;
    const last = await this.#wholeQuorum("final");
    this.#checkAllThere(last, plan);
    await this.#publish("new-only", plan.moves);
  }

  // --- reading the cluster ---------------------------------------------------------------------

  /** Polls until every monmap member is in quorum and every mon reports the same monmap epoch. */
  async #wholeQuorum(phase: MigrationPhase): Promise<QuorumStatus> {
    this.#phase = phase;
    const deadline = this.#deps.clock.now() + this.#t.quorumTimeoutMs;
    for (;;) {
      const look = await this.#lookWhole();
      if (look.done && look.quorum) return look.quorum;
      if (this.#deps.clock.now() >= deadline) {
        throw this.#fail(
          "retryable",
          `not every mon is in quorum on one monmap epoch: ${look.why}`,
          HINT_QUORUM,
        );
      }
      await this.#deps.clock.sleep(this.#t.pollMs, this.#signal);
    }
  }

  async #lookWhole(): Promise<Look> {
    const q = await this.#quorum();
    if (!q) return { done: false, why: "no answer from the cluster" };
    const missing = q.monmap.mons.filter((m) => !q.quorum.includes(m.name)).map((m) => `mon.${m.name}`);
    if (missing.length > 0) return { done: false, why: `${missing.join(", ")} not in quorum` };
    const views = await Promise.all(q.monmap.mons.map((m) => this.#monView(m.name, q.monmap.epoch)));
    const odd = views.filter((v) => v !== undefined);
    if (odd.length > 0) return { done: false, why: odd.join("; ") };
    return { done: true, why: "", quorum: q };
  }

  /** undefined when the mon itself says it is in quorum on `epoch`; otherwise what it says. */
  async #monView(id: string, epoch: number, want?: AddrVec): Promise<string | undefined> {
    const s = await this.#call(() => this.#deps.ceph.monStatus(id, this.#signal));
    if (!s) return `mon.${id} does not answer`;
    if (!isInQuorumState(s.state)) return `mon.${id} is ${s.state}`;
    if (s.monmap.epoch !== epoch) return `mon.${id} is on monmap e${s.monmap.epoch}, the quorum on e${epoch}`;
    const own = findMon(s.monmap, id)?.addrs ?? [];
    if (want && !sameAddrvec(own, want)) return `mon.${id} still sees itself at ${formatAddrvec(own)}`;
    return undefined;
  }

  async #quorum(): Promise<QuorumStatus | undefined> {
    const q = await this.#call(() => this.#deps.ceph.quorumStatus(this.#signal));
    if (q) this.#noteQuorum(q);
    else if (this.#lastQuorum !== "") {
      this.#lastQuorum = "";
      this.#event("no-answer", "quorum_status timed out (an election, or no quorum)");
    }
    return q;
  }

  /** The call's result; undefined for a retryable failure (elections make the CLI time out). */
  async #call<T>(f: () => Promise<T>): Promise<T | undefined> {
    try {
      return await f();
    } catch (err) {
      if (this.#signal.aborted) throw err;
      if (classify(err) !== "retryable") {
        throw this.#fail(classify(err), (err as Error).message, HINT_FIX_RERUN);
      }
      this.#deps.log.debug({ err }, "ceph call failed; will look again");
      return undefined;
    }
  }

  #noteQuorum(q: QuorumStatus): void {
    this.#lastEpoch = q.monmap.epoch;
    const key = `in quorum: ${q.quorum.join(",")}, leader ${q.leader ?? "-"}, monmap e${q.monmap.epoch}`;
    if (key === this.#lastQuorum) return;
    this.#lastQuorum = key;
    this.#event("quorum", key);
  }

  // --- planning --------------------------------------------------------------------------------

  #plan(q: QuorumStatus): Plan {
    this.#phase = "validate";
    this.#validate(q.monmap);
    const plan: Plan = { moves: [], pending: new Set(), want: new Map() };
    for (const t of this.#targets) {
      const current = findMon(q.monmap, t.id)?.addrs ?? [];
      const want = monAddrvec(t.to, t.msgr2Only);
      const there = sameAddrvec(current, want);
      plan.want.set(t.id, want);
      plan.moves.push({ id: t.id, from: there ? t.to : (addrvecIPs(current)[0] ?? t.to), to: t.to });
      if (there) this.#report.alreadyThere.push(t.id);
      else plan.pending.add(t.id);
    }
    this.#event("plan", planText(plan, this.#report.alreadyThere));
    return plan;
  }

  #validate(map: MonMap): void {
    const problems = targetProblems(this.#targets, map);
    if (problems.length === 0) return;
    throw this.#fail(
      "permanent",
      `the targets do not fit monmap e${map.epoch}: ${problems.join("; ")}`,
      "give exactly one distinct global IP for every mon in the monmap (`ceph mon dump`)",
    );
  }

  async #publish(phase: PublishPhase, moves: AddressMove[]): Promise<void> {
    this.#phase = "publish";
    try {
      await this.#deps.publish(phase, moves);
    } catch (err) {
      if (this.#signal.aborted) throw err;
      throw this.#fail(
        classify(err),
        `could not publish the ${phase} mon addresses to client configs: ${(err as Error).message}`,
        "clients must know the new addresses before a mon moves: fix the cause and run the migration again",
      );
    }
    this.#event("publish", `${phase}: ${moves.map((m) => `${m.id} ${m.from}→${m.to}`).join(", ")}`);
  }

  // --- one mon ----------------------------------------------------------------------------------

  async #step(id: string, q: QuorumStatus, want: AddrVec): Promise<void> {
    this.#mon = id;
    const before = q.monmap;
    const entry = findMon(before, id);
    const via = viaMon(q, id);
    if (!entry || !via)
      throw this.#fail("permanent", `mon.${id} or a second mon is missing in quorum`, HINT_QUORUM);
    const started = this.#deps.clock.now();
    this.#event(
      "set-addrs",
      `mon.${id} (rank ${entry.rank}) ${formatAddrvec(entry.addrs)} → ${formatAddrvec(want)}`,
    );
    const replyMs = await this.#sendSetAddrs(id, want, via.addrs, started);
    const after = await this.#waitMoved(id, before, want, started);
    const extra = await this.#verifyEpochs(before, after.monmap.epoch, id, want);
    const doneMs = this.#deps.clock.now() - started;
    this.#report.steps.push({
      id,
      rank: entry.rank,
      leader: q.leader === id,
      from: formatAddrvec(entry.addrs),
      to: formatAddrvec(want),
      via: via.name,
      epochBefore: before.epoch,
      epochAfter: after.monmap.epoch,
      extraEpochs: extra,
      replyMs,
      doneMs,
    });
    this.#event("moved", `mon.${id} back in quorum at ${formatAddrvec(want)} after ${secs(doneMs)}`);
  }

  /** Milliseconds until the reply; undefined when the reply was lost (the result is checked instead). */
  async #sendSetAddrs(id: string, want: AddrVec, via: AddrVec, started: number): Promise<number | undefined> {
    this.#phase = "set-addrs";
    try {
      await this.#deps.ceph.setAddrs(id, want, via, this.#signal);
    } catch (err) {
      if (this.#signal.aborted) throw err;
      const kind = classify(err);
      const message = (err as Error).message;
      if (kind !== "retryable")
        throw this.#fail(kind, message, "nothing was changed: fix the cause and run again");
      this.#event("no-reply", `${message}; looking whether it took effect`);
      return undefined;
    }
    const ms = this.#deps.clock.now() - started;
    this.#event("reply", `set-addrs mon.${id} acknowledged after ${secs(ms)}`);
    return ms;
  }

  async #waitMoved(id: string, before: MonMap, want: AddrVec, started: number): Promise<QuorumStatus> {
    this.#phase = "wait";
    const deadline = started + this.#t.waitTimeoutMs;
    for (;;) {
      const look = await this.#lookMoved(id, before, want);
      if (look.done && look.quorum) return look.quorum;
      if (this.#deps.clock.now() >= deadline) {
        throw this.#fail(
          "retryable",
          `mon.${id} not back with ${formatAddrvec(want)}: ${look.why}`,
          waitHint(id),
        );
      }
      await this.#deps.clock.sleep(this.#t.pollMs, this.#signal);
    }
  }

  async #lookMoved(id: string, before: MonMap, want: AddrVec): Promise<Look> {
    const q = await this.#quorum();
    if (!q) return { done: false, why: "no answer from the cluster (election)" };
    const odd = unexpectedChange(before, q.monmap, id, want);
    if (odd) throw this.#fail("permanent", odd, HINT_UNEXPECTED);
    if (!sameAddrvec(findMon(q.monmap, id)?.addrs ?? [], want))
      return { done: false, why: `monmap e${q.monmap.epoch} does not show the new addrvec yet` };
    const missing = q.monmap.mons.filter((m) => !q.quorum.includes(m.name)).map((m) => `mon.${m.name}`);
    if (missing.length > 0) return { done: false, why: `${missing.join(", ")} not in quorum` };
    const view = await this.#monView(id, q.monmap.epoch, want);
    return view === undefined ? { done: true, why: "", quorum: q } : { done: false, why: view };
  }

  /** Every epoch after `before` must be `before` with only the target's addrvec changed. */
  async #verifyEpochs(before: MonMap, last: number, id: string, want: AddrVec): Promise<number> {
    this.#phase = "verify";
    for (let e = before.epoch + 1; e <= last; e++) {
      const map = await this.#dump(e);
      const odd =
        unexpectedChange(before, map, id, want) ??
        (sameAddrvec(findMon(map, id)?.addrs ?? [], want)
          ? undefined
          : `monmap e${e} does not carry mon.${id}'s new addrvec`);
      if (odd) throw this.#fail("permanent", odd, HINT_UNEXPECTED);
    }
    const extra = last - before.epoch - 1;
    if (extra > 0)
      this.#event(
        "note",
        `mon.${id}: ${extra} extra monmap epoch(s) with the same content (reef re-ran the command after the election)`,
      );
    return extra;
  }

  async #dump(epoch: number): Promise<MonMap> {
    const deadline = this.#deps.clock.now() + this.#t.quorumTimeoutMs;
    for (;;) {
      const map = await this.#call(() => this.#deps.ceph.monDump(epoch, this.#signal));
      if (map) return map;
      if (this.#deps.clock.now() >= deadline)
        throw this.#fail("retryable", `could not read monmap e${epoch}`, HINT_QUORUM);
      await this.#deps.clock.sleep(this.#t.pollMs, this.#signal);
    }
  }

  async #settle(): Promise<void> {
    this.#event("settle", `${secs(this.#t.settleMs)} before the next mon`);
    await this.#deps.clock.sleep(this.#t.settleMs, this.#signal);
  }

  #checkAllThere(q: QuorumStatus, plan: Plan): void {
    const off = [...plan.want].filter(([id, want]) => !sameAddrvec(findMon(q.monmap, id)?.addrs ?? [], want));
    if (off.length === 0) return;
    const list = off.map(([id]) => `mon.${id}`).join(", ");
    throw this.#fail(
      "permanent",
      `${list} not on the global IP at the end (monmap e${q.monmap.epoch})`,
      HINT_UNEXPECTED,
    );
  }

  // --- reporting --------------------------------------------------------------------------------

  #event(event: string, detail: string): void {
    const e = { at: this.#deps.clock.now(), event, detail };
    this.#deps.log.info(
      { event, ...(this.#mon !== undefined && { mon: this.#mon }) },
      `migration: ${event}: ${detail}`,
    );
    this.#deps.onTimeline?.(e);
  }

  #fail(kind: ErrorKind, reason: string, hint: string): Stop {
    return new Stop({
      phase: this.#phase,
      ...(this.#mon !== undefined && { mon: this.#mon }),
      kind,
      reason,
      hint,
    });
  }

  #stopped(err: unknown): void {
    const aborted = this.#signal.aborted && !(err instanceof Stop);
    const stop = aborted ? this.#abortStop() : err instanceof Stop ? err.stop : this.#internalStop(err);
    this.#report.outcome = aborted ? "aborted" : "stopped";
    this.#report.stop = stop;
    const where = `${stop.phase}${stop.mon === undefined ? "" : ` of mon.${stop.mon}`}`;
    this.#deps.log.error(
      { stop },
      `migration ${this.#report.outcome} at ${where}: ${stop.reason}: ${stop.hint}`,
    );
    this.#deps.onTimeline?.({
      at: this.#deps.clock.now(),
      event: this.#report.outcome,
      detail: `${where}: ${stop.reason}`,
    });
  }

  #abortStop(): MigrationStop {
    const midStep = this.#phase === "wait" || this.#phase === "verify";
    const hint = midStep
      ? `mon.${this.#mon ?? "?"} may be restarting with its new address; ${HINT_RERUN}`
      : HINT_RERUN;
    const reason = `aborted: ${String((this.#signal.reason as Error | undefined)?.message ?? this.#signal.reason)}`;
    return {
      phase: this.#phase,
      ...(this.#mon !== undefined && { mon: this.#mon }),
      kind: "aborted",
      reason,
      hint,
    };
  }

  #internalStop(err: unknown): MigrationStop {
    const reason = err instanceof Error ? err.message : String(err);
    return this.#fail(classify(err), reason, HINT_RERUN).stop;
  }
}

const HINT_UNEXPECTED =
  "something else changed the monmap during the migration: compare `ceph mon dump` with the targets, " +
  "make sure no other tool (Rook's operator failing mons over) is acting, then run the migration again";

function waitHint(id: string): string {
  return (
    `mon.${id} exits after set-addrs and must be restarted with the same arguments (its pod by the kubelet); ` +
    `if it keeps exiting with "removed from monmap, suicide", stop it and inject the current map: ` +
    `\`ceph mon getmap -o /tmp/monmap\`, \`ceph-mon -i ${id} --inject-monmap /tmp/monmap\`, start it; ` +
    `when it is back in quorum, run the migration again`
  );
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function planText(plan: Plan, there: readonly string[]): string {
  const moving = plan.moves.filter((m) => plan.pending.has(m.id)).map((m) => `${m.id} ${m.from}→${m.to}`);
  return `move ${moving.join(", ") || "none"}; already there: ${there.join(",") || "none"}`;
}

/** Problems of the target list against the monmap; empty when it fits. */
export function targetProblems(targets: readonly MonTarget[], map: MonMap): string[] {
  const problems: string[] = [];
  const ids = targets.map((t) => t.id);
  const ips = targets.map((t) => t.to);
  for (const t of targets) {
    if (ipFamily(t.to) === undefined) problems.push(`mon.${t.id}: ${JSON.stringify(t.to)} is not a bare IP`);
    if (!findMon(map, t.id)) problems.push(`mon.${t.id} is not in the monmap`);
    const taken = map.mons.find((m) => m.name !== t.id && addrvecIPs(m.addrs).includes(t.to));
    if (taken) problems.push(`${t.to} is mon.${taken.name}'s current address`);
  }
  for (const m of map.mons) if (!ids.includes(m.name)) problems.push(`mon.${m.name} has no target`);
  problems.push(...duplicates(ids).map((id) => `mon.${id} is listed twice`));
  problems.push(...duplicates(ips).map((ip) => `${ip} is given to more than one mon`));
  return problems;
}

function duplicates(xs: readonly string[]): string[] {
  return [...new Set(xs.filter((x, i) => xs.indexOf(x) !== i))];
}

/** Non-leaders first, lowest rank first; the leader last. */
export function nextMon(q: QuorumStatus, pending: ReadonlySet<string>): string {
  const order = [...q.monmap.mons].filter((m) => pending.has(m.name));
  const pick = order.find((m) => m.name !== q.leader) ?? order[0];
  if (!pick) throw new Error("nextMon: nothing pending in the monmap");
  return pick.name;
}

/** The mon set-addrs goes through: the leader, or for the leader the lowest-ranked other quorum member. */
export function viaMon(q: QuorumStatus, id: string): { name: string; addrs: AddrVec } | undefined {
  const name = q.leader !== undefined && q.leader !== id ? q.leader : q.quorum.find((n) => n !== id);
  const entry = name === undefined ? undefined : findMon(q.monmap, name);
  return entry && { name: entry.name, addrs: entry.addrs };
}

/**
 * Why `now` is not `before` plus (at most) the target's move, or undefined. The epoch may grow by more
 * than one: reef's leader re-runs a set-addrs cut off by the election it causes (same content).
 */
export function unexpectedChange(before: MonMap, now: MonMap, id: string, want: AddrVec): string | undefined {
  if (now.fsid !== before.fsid) return `the cluster's fsid changed (${before.fsid} → ${now.fsid})`;
  if (now.epoch < before.epoch) return `monmap went back from e${before.epoch} to e${now.epoch}`;
  if (now.epoch > before.epoch + MAX_EPOCHS_PER_STEP)
    return `monmap moved from e${before.epoch} to e${now.epoch} during one step`;
  if (shape(now) !== shape(before))
    return `monmap members changed: ${shape(before)} → ${shape(now)} (e${now.epoch})`;
  return addressChange(before, now, id, want);
}

function shape(m: MonMap): string {
  return m.mons.map((x) => `${x.rank}:${x.name}`).join(",");
}

/** A mon whose address changed other than the target moving to `want`. */
function addressChange(before: MonMap, now: MonMap, id: string, want: AddrVec): string | undefined {
  for (const m of now.mons) {
    const was = findMon(before, m.name)?.addrs ?? [];
    const ok = sameAddrvec(m.addrs, was) || (m.name === id && sameAddrvec(m.addrs, want));
    if (!ok) return `mon.${m.name}'s address changed to ${formatAddrvec(m.addrs)} in monmap e${now.epoch}`;
  }
  return undefined;
}

/** More would mean something besides this step keeps changing the monmap. */
const MAX_EPOCHS_PER_STEP = 3;
