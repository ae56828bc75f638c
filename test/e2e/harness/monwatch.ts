// Watching mons from the outside without the ceph CLI: their admin sockets (unix sockets in the run
// folder, reachable from the host whatever netns the mon runs in), sampled once a second.
//
//   const watch = new QuorumWatch({ a: ceph.host("/e2e/a/run/ceph-mon.a.asok"), … });
//   watch.start(); …; const samples = await watch.stop();
//   renderQuorumTable(samples, t0)       // one row per change: quorum, leader, epoch, each mon's state+address
//   noLeaderWindows(samples)             // [from, to] of the stretches without a formed quorum
//
// Admin socket protocol (src/common/admin_socket.cc): the client writes the command as JSON and a NUL
// byte; the daemon answers with a 4-byte big-endian length and that many bytes of JSON.
import { connect } from "node:net";

export function adminSocket(path: string, prefix: string, timeoutMs = 2000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    let buf = Buffer.alloc(0);
    const fail = (err: Error) => {
      sock.destroy();
      reject(err);
    };
    sock.setTimeout(timeoutMs, () => fail(new Error(`${path}: no answer within ${timeoutMs} ms`)));
    sock.on("error", fail);
    sock.on("connect", () => sock.write(`${JSON.stringify({ prefix })}\0`));
    sock.on("data", (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 4 || buf.length < 4 + buf.readUInt32BE(0)) return;
      sock.destroy();
      const text = buf.subarray(4, 4 + buf.readUInt32BE(0)).toString("utf8");
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new Error(`${path}: not JSON: ${text.slice(0, 80)}`));
      }
    });
    sock.on("end", () => fail(new Error(`${path}: closed before a whole answer`)));
  });
}

export interface MonView {
  /** leader, peon, electing, probing, synchronizing. */
  state: string;
  epoch: number;
  /** Names in the quorum this mon knows (empty outside quorum). */
  quorum: string[];
  /** What it advertises for itself: the IPs of its own monmap entry. */
  self: string;
  rank: number;
}

export interface QuorumSample {
  at: number;
  /** undefined: the admin socket did not answer (process down or restarting). */
  mons: Record<string, MonView | undefined>;
}

interface MonStatusJson {
  state: string;
  rank: number;
  quorum: number[];
  monmap: {
    epoch: number;
    mons: { name: string; rank: number; public_addrs: { addrvec: { addr: string }[] } }[];
  };
}

function ipOf(addr: string): string {
  return addr.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
}

function view(id: string, s: MonStatusJson): MonView {
  const byRank = new Map(s.monmap.mons.map((m) => [m.rank, m.name]));
  const own = s.monmap.mons.find((m) => m.name === id);
  return {
    state: s.state,
    epoch: s.monmap.epoch,
    quorum: s.state === "leader" || s.state === "peon" ? s.quorum.map((r) => byRank.get(r) ?? `#${r}`) : [],
    self: [...new Set(own?.public_addrs.addrvec.map((a) => ipOf(a.addr)) ?? [])].join("|"),
    rank: s.rank,
  };
}

export class QuorumWatch {
  readonly samples: QuorumSample[] = [];
  private readonly sockets: Record<string, string>;
  private readonly intervalMs: number;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(sockets: Record<string, string>, intervalMs = 1000) {
    this.sockets = sockets;
    this.intervalMs = intervalMs;
  }

  async sample(): Promise<QuorumSample> {
    const at = Date.now();
    const entries = await Promise.all(
      Object.entries(this.sockets).map(async ([id, path]) => {
        const s = (await adminSocket(path, "mon_status").catch(() => undefined)) as MonStatusJson | undefined;
        return [id, s && view(id, s)] as const;
      }),
    );
    return { at, mons: Object.fromEntries(entries) };
  }

  start(): void {
    this.stopped = false;
    this.running = (async () => {
      while (!this.stopped) {
        const s = await this.sample();
        this.samples.push(s);
        await new Promise((r) => setTimeout(r, Math.max(0, this.intervalMs - (Date.now() - s.at))));
      }
    })();
  }

  async stop(): Promise<QuorumSample[]> {
    this.stopped = true;
    await this.running;
    return this.samples;
  }
}

/** The quorum formed at that moment: what the mons in leader/peon state agree on (empty if none). */
export function formedQuorum(s: QuorumSample): string[] {
  const inQ = Object.values(s.mons).filter((v) => v && (v.state === "leader" || v.state === "peon"));
  return [...new Set(inQ.flatMap((v) => v?.quorum ?? []))].sort();
}

export function leaderOf(s: QuorumSample): string | undefined {
  return Object.entries(s.mons).find(([, v]) => v?.state === "leader")?.[0];
}

/** Mons taking part in the quorum protocol: in quorum or electing (not down, probing or syncing). */
export function participating(s: QuorumSample): string[] {
  return Object.entries(s.mons)
    .filter(([, v]) => v && ["leader", "peon", "electing"].includes(v.state))
    .map(([id]) => id);
}

/** Stretches of samples without a formed quorum: [first sample without, first sample with again]. */
export function noLeaderWindows(
  samples: readonly QuorumSample[],
): { from: number; to: number | undefined }[] {
  const out: { from: number; to: number | undefined }[] = [];
  for (const s of samples) {
    const none = formedQuorum(s).length === 0;
    const open = out.at(-1);
    if (none && (!open || open.to !== undefined)) out.push({ from: s.at, to: undefined });
    if (!none && open && open.to === undefined) open.to = s.at;
  }
  return out;
}

function monCell(v: MonView | undefined): string {
  return v ? `${v.state} e${v.epoch} ${v.self}` : "down";
}

/** One row per change (ignoring epochs-only noise is not done: every epoch change is a row). */
export function renderQuorumTable(samples: readonly QuorumSample[], t0: number): string {
  const ids = Object.keys(samples[0]?.mons ?? {}).sort();
  const head = ["time", "quorum", "leader", ...ids.map((id) => `mon.${id}`)];
  const rows: string[][] = [];
  let last = "";
  for (const s of samples) {
    const q = formedQuorum(s);
    const cells = [q.join(",") || "— none —", leaderOf(s) ?? "-", ...ids.map((id) => monCell(s.mons[id]))];
    const key = cells.join("|");
    if (key === last) continue;
    last = key;
    rows.push([`+${((s.at - t0) / 1000).toFixed(1)} s`, ...cells]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  return [line(head), line(widths.map((w) => "─".repeat(w))), ...rows.map(line)].join("\n");
}
