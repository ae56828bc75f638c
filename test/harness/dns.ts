// Real DNS servers on loopback for tests: Debian's dnsmasq for the clusterset.local zone, and a tiny
// scripted responder (dns-packet over dgram, optional TCP) for replies dnsmasq cannot produce.
import { spawn, type ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import { existsSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import dnsPacket from "dns-packet";

const DNSMASQ = "/usr/sbin/dnsmasq";
const SETPRIV = "/usr/bin/setpriv";

// ---------------------------------------------------------------------------------------------------
// Leftover protection: every child is SIGKILLed and every temp dir removed when this process exits,
// even if a test failed before stop(). setpriv's parent-death signal covers a SIGKILLed test runner.

const live = new Map<ChildProcess, string>();
let exitHookInstalled = false;

function track(child: ChildProcess, dir: string): void {
  live.set(child, dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const [proc, tmp] of live) {
      proc.kill("SIGKILL");
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// A minimal DNS client, independent of the code under test, used to wait until a server serves data.

export type AddressType = "A" | "AAAA";

export interface ProbeResult {
  /** 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED … */
  rcode: number;
  addresses: string[];
}

/** One UDP query; undefined when nothing (parseable) came back within `timeoutMs`. */
export async function probe(
  server: string,
  name: string,
  type: AddressType,
  timeoutMs = 300,
): Promise<ProbeResult | undefined> {
  const { host, port } = splitServer(server);
  const socket = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
  const id = Math.floor(Math.random() * 0x10000);
  try {
    const reply = new Promise<ProbeResult>((resolve) => {
      socket.on("message", (msg) => {
        const result = decodeReply(msg, id);
        if (result) resolve(result);
      });
    });
    const query = dnsPacket.encode({
      type: "query",
      id,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type, name }],
    });
    socket.send(query, port, host);
    return await Promise.race([reply, sleep(timeoutMs, undefined)]);
  } finally {
    socket.close();
  }
}

function decodeReply(msg: Buffer, id: number): ProbeResult | undefined {
  try {
    const packet = dnsPacket.decode(msg);
    if (packet.id !== id) return undefined;
    const addresses = (packet.answers ?? []).flatMap((a) =>
      a.type === "A" || a.type === "AAAA" ? [a.data] : [],
    );
    return { rcode: (packet.flags ?? 0) & 0xf, addresses };
  } catch {
    return undefined;
  }
}

/** "127.0.0.1:53" / "[::1]:53" → host and port. */
export function splitServer(server: string): { host: string; port: number } {
  const m = /^\[(.+)\]:(\d+)$/.exec(server) ?? /^([^:]+):(\d+)$/.exec(server);
  if (!m) throw new Error(`server "${server}" is not host:port or [v6]:port`);
  return { host: m[1]!, port: Number(m[2]) };
}

function joinServer(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

function requireLoopback(host: string): void {
  // Workplace rule: test DNS traffic stays on loopback.
  if (host === "::1" || (net.isIPv4(host) && host.startsWith("127."))) return;
  throw new Error(`refusing to listen on ${host}: test DNS servers must be on loopback (127.0.0.0/8 or ::1)`);
}

/** A port free for both UDP and TCP on `host` right now (dnsmasq needs both). */
async function freeDualPort(host: string): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
    await new Promise<void>((resolve) => udp.bind(0, host, resolve));
    const port = udp.address().port;
    const tcp = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once("error", () => resolve(false));
      tcp.listen(port, host, () => resolve(true));
    });
    if (ok) await new Promise((resolve) => tcp.close(resolve));
    udp.close();
    if (ok) return port;
  }
  throw new Error(`no port free for both UDP and TCP on ${host}`);
}

async function waitFor<T>(
  what: string,
  timeoutMs: number,
  attempt: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------------------------------
// dnsmasq

export interface DnsmasqOptions {
  /** Answered only from local data; anything else in it is NXDOMAIN. Default clusterset.local. */
  zone?: string;
  /** Loopback address to listen on, "127.0.0.1" (default) or "::1". */
  listen?: string;
  /**
   * Allows a non-loopback `listen` address. Only for an address on an interface the test itself
   * created whose traffic stays in its own network namespaces (the e2e host link).
   */
  testInterface?: boolean;
}

export interface Dnsmasq {
  /** "127.0.0.1:PORT" or "[::1]:PORT", the form Resolver.setServers takes. */
  readonly server: string;
  /** Sets the A/AAAA records of `name` (v4 and v6 mixed); returns once dnsmasq serves exactly these. */
  setRecord(name: string, addresses: readonly string[]): Promise<void>;
  /** Removes `name`; returns once dnsmasq answers NXDOMAIN for it. */
  removeRecord(name: string): Promise<void>;
  /** Kills dnsmasq and removes its temp dir; idempotent. */
  stop(): Promise<void>;
  /** dnsmasq's recent log lines (queries are logged), for failure messages. */
  log(): string;
}

const SETTLE_MS = 5000;

export async function startDnsmasq(options: DnsmasqOptions = {}): Promise<Dnsmasq> {
  const zone = (options.zone ?? "clusterset.local").replace(/\.$/, "");
  const host = options.listen ?? "127.0.0.1";
  if (!options.testInterface) requireLoopback(host);
  const dir = await mkdtemp(join(tmpdir(), "dnsmasq-"));
  try {
    const hostsDir = join(dir, "hosts");
    await mkdir(hostsDir);
    const proc = await spawnDnsmasq({ host, zone, hostsDir, dir });
    return dnsmasqHandle(proc, dir, hostsDir);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

interface DnsmasqSetup {
  host: string;
  zone: string;
  hostsDir: string;
  dir: string;
}

interface RunningDnsmasq {
  child: ChildProcess;
  server: string;
  log: () => string;
}

function dnsmasqArgs(setup: DnsmasqSetup, port: number): string[] {
  const args = [
    "--keep-in-foreground",
    "--conf-file=/dev/null", // ignore any host-wide /etc/dnsmasq.conf
    "--pid-file=", // no pid file: instances must not share /run/dnsmasq.pid
    "--log-facility=-", // stderr, not syslog
    "--log-queries",
    "--no-resolv",
    "--no-hosts",
    "--bind-interfaces",
    `--listen-address=${setup.host}`,
    `--port=${port}`,
    `--local=/${setup.zone}/`,
    `--hostsdir=${setup.hostsDir}`,
    "--local-ttl=1", // hosts data defaults to TTL 0
  ];
  // As root dnsmasq switches to nobody, who cannot read the 0700 temp dir.
  if (process.getuid?.() === 0) args.push("--user=root", "--group=root");
  return args;
}

async function spawnDnsmasq(setup: DnsmasqSetup): Promise<RunningDnsmasq> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freeDualPort(setup.host);
    try {
      return await startOnPort(setup, port);
    } catch (err) {
      lastError = err; // most likely the port was taken between probing and binding; pick another
    }
  }
  throw lastError;
}

async function startOnPort(setup: DnsmasqSetup, port: number): Promise<RunningDnsmasq> {
  const args = dnsmasqArgs(setup, port);
  const [cmd, argv] = existsSync(SETPRIV)
    ? [SETPRIV, ["--pdeathsig", "KILL", DNSMASQ, ...args]]
    : [DNSMASQ, args];
  const child = spawn(cmd, argv, { stdio: ["ignore", "ignore", "pipe"] });
  track(child, setup.dir);
  const lines: string[] = [];
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    lines.push(...chunk.split("\n").filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 200));
  });
  const server = joinServer(setup.host, port);
  const log = () => lines.join("\n");
  const exited = new Promise<never>((_, reject) => {
    child.once("exit", (code, sig) =>
      reject(new Error(`dnsmasq exited (${code ?? sig}) on start:\n${log()}`)),
    );
  });
  exited.catch(() => undefined); // only observed while starting
  try {
    // Ready when it answers anything for the zone apex.
    await Promise.race([
      exited,
      waitFor(`dnsmasq on ${server}`, SETTLE_MS, () => probe(server, setup.zone, "A", 100)),
    ]);
  } catch (err) {
    await killAndWait(child);
    live.delete(child);
    throw err;
  }
  return { child, server, log };
}

function dnsmasqHandle(running: RunningDnsmasq, dir: string, hostsDir: string): Dnsmasq {
  const { child, server } = running;
  let stopped = false;
  const fileFor = (name: string) => join(hostsDir, name.replace(/\.$/, "").toLowerCase());
  return {
    server,
    log: running.log,
    async setRecord(name, addresses) {
      const bare = name.replace(/\.$/, "");
      const lines = addresses.map((a) => `${a} ${bare}\n`).join("");
      // Written beside the hosts dir, then renamed in: dnsmasq's inotify never sees a half-written file.
      const tmp = join(dir, `.${bare}.${process.pid}.${Date.now()}`);
      await writeFile(tmp, lines);
      await rename(tmp, fileFor(name));
      await waitServed(server, bare, addresses, running.log);
    },
    async removeRecord(name) {
      const bare = name.replace(/\.$/, "");
      await rm(fileFor(name), { force: true });
      await waitFor(`NXDOMAIN for ${bare} from ${server}`, SETTLE_MS, async () => {
        const r = await probe(server, bare, "A");
        return r?.rcode === 3 ? true : undefined;
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await killAndWait(child);
      live.delete(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitServed(
  server: string,
  name: string,
  addresses: readonly string[],
  log: () => string,
): Promise<void> {
  const want4 = canonical(addresses.filter((a) => net.isIPv4(a)));
  const want6 = canonical(addresses.filter((a) => net.isIPv6(a)));
  try {
    await waitFor(`${server} to serve ${name} → ${addresses.join(" ")}`, SETTLE_MS, async () => {
      const [a, aaaa] = await Promise.all([probe(server, name, "A"), probe(server, name, "AAAA")]);
      const same = a && aaaa && canonical(a.addresses) === want4 && canonical(aaaa.addresses) === want6;
      return same ? true : undefined;
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}\ndnsmasq log:\n${log()}`, { cause: err });
  }
}

/** Order-insensitive, with IPv6 in its compressed form. */
function canonical(addresses: readonly string[]): string {
  const norm = (a: string) => (net.isIPv6(a) ? new URL(`http://[${a}]/`).hostname.slice(1, -1) : a);
  return addresses.map(norm).sort().join(",");
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
  await gone;
  clearTimeout(timer);
}

// ---------------------------------------------------------------------------------------------------
// Scripted responder

export interface DnsQuestion {
  name: string;
  type: string;
  transport: "udp" | "tcp";
}

export type DnsReply =
  /** One A/AAAA record per address, typed by the address's family. */
  | { kind: "addresses"; addresses: readonly string[]; ttl?: number }
  /** NOERROR with an empty answer. */
  | { kind: "nodata" }
  | { kind: "nxdomain" }
  | { kind: "servfail" }
  | { kind: "refused" }
  /** No reply at all: the client times out. */
  | { kind: "drop" }
  /** Right ID, claims one answer, ends after the header. */
  | { kind: "malformed" }
  /** TC bit and no answers: the client retries over TCP. */
  | { kind: "truncated" };

export type DnsHandler = (question: DnsQuestion) => DnsReply;

export interface ResponderOptions {
  /** Also answer over TCP on the same port (for truncation fallback). Default false: TCP is refused. */
  tcp?: boolean;
  /** Loopback address, default 127.0.0.1. */
  listen?: string;
}

export interface Responder {
  readonly server: string;
  /** Every question received, in order. */
  readonly questions: DnsQuestion[];
  stop(): Promise<void>;
}

const RCODE = { nodata: 0, servfail: 2, nxdomain: 3, refused: 5 } as const;

function encodeReply(query: dnsPacket.DecodedPacket, reply: DnsReply): Buffer | undefined {
  const base = { type: "response" as const, id: query.id, questions: query.questions };
  const flags = dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE;
  switch (reply.kind) {
    case "drop":
      return undefined;
    case "malformed":
      return Buffer.from([
        (query.id ?? 0) >> 8,
        (query.id ?? 0) & 0xff,
        0x81,
        0x80,
        0,
        1,
        0,
        1,
        0,
        0,
        0,
        0,
        0xff,
      ]);
    case "truncated":
      return dnsPacket.encode({ ...base, flags: flags | dnsPacket.TRUNCATED_RESPONSE, answers: [] });
    case "addresses":
      return dnsPacket.encode({
        ...base,
        flags: flags | dnsPacket.AUTHORITATIVE_ANSWER,
        answers: records(query, reply),
      });
    default:
      return dnsPacket.encode({ ...base, flags: flags | RCODE[reply.kind], answers: [] });
  }
}

function records(
  query: dnsPacket.DecodedPacket,
  reply: { addresses: readonly string[]; ttl?: number },
): dnsPacket.Answer[] {
  const name = query.questions?.[0]?.name ?? "";
  const ttl = reply.ttl ?? 30;
  return reply.addresses.map((data) => ({
    type: net.isIPv6(data) ? ("AAAA" as const) : ("A" as const),
    name,
    ttl,
    data,
  }));
}

function answer(
  msg: Buffer,
  transport: "udp" | "tcp",
  handler: DnsHandler,
  questions: DnsQuestion[],
): Buffer | undefined {
  let query: dnsPacket.DecodedPacket;
  try {
    query = dnsPacket.decode(msg);
  } catch {
    return undefined;
  }
  const q = query.questions?.[0];
  const question: DnsQuestion = { name: q?.name ?? "", type: q?.type ?? "", transport };
  questions.push(question);
  const reply = handler(question);
  // Over TCP a "truncated" reply makes no sense; the test asked for the fallback to fail, so drop it.
  return transport === "tcp" && reply.kind === "truncated" ? undefined : encodeReply(query, reply);
}

export async function startUdpResponder(
  handler: DnsHandler,
  options: ResponderOptions = {},
): Promise<Responder> {
  const host = options.listen ?? "127.0.0.1";
  requireLoopback(host);
  const questions: DnsQuestion[] = [];
  const port = options.tcp ? await freeDualPort(host) : 0;
  const udp = dgram.createSocket(net.isIPv6(host) ? "udp6" : "udp4");
  udp.on("message", (msg, rinfo) => {
    const out = answer(msg, "udp", handler, questions);
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    udp.once("error", reject);
    udp.bind(port, host, resolve);
  });
  const tcp = options.tcp
    ? await startTcp(host, udp.address().port, (m) => answer(m, "tcp", handler, questions))
    : undefined;
  return {
    server: joinServer(host, udp.address().port),
    questions,
    async stop() {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      if (tcp) await tcp();
    },
  };
}

/** DNS over TCP: each message has a two-byte length prefix. Returns a stop function. */
async function startTcp(
  host: string,
  port: number,
  respond: (msg: Buffer) => Buffer | undefined,
): Promise<() => Promise<void>> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let buf = Buffer.alloc(0);
    socket.on("data", (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const out = respond(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        if (out) socket.write(Buffer.concat([Buffer.from([out.length >> 8, out.length & 0xff]), out]));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  return async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
}
