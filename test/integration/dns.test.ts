// NodeDnsResolver against real servers on loopback: dnsmasq for the zone, a scripted responder for
// failures. Timing bounds are deliberately loose (loaded 2-core CI); they only prove "prompt", not "exact".
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { NodeDnsResolver } from "../../agent/dns/resolver.ts";
import { AgentError, ConfigError } from "../../agent/errors.ts";
import type { DnsAnswer } from "../../agent/ports.ts";
import {
  startDnsmasq,
  startUdpResponder,
  type DnsHandler,
  type Dnsmasq,
  type Responder,
} from "../harness/dns.ts";

const MON_A = "cl1.rook-ceph-mon-a.rook-ceph.svc.clusterset.local.";
const OSD_0 = "cl1.rook-ceph-osd-0.rook-ceph.svc.clusterset.local.";
const MARGIN_MS = 1500;

/** Every query gets a safety deadline so a broken test fails instead of hanging. */
const soon = () => AbortSignal.timeout(5000);

function resolver(server: string, timeoutMs = 500, tries = 2) {
  return new NodeDnsResolver({ servers: [server], timeoutMs, tries });
}

function sorted(answer: DnsAnswer) {
  if (answer.kind !== "addresses") return assert.fail(`expected addresses, got ${JSON.stringify(answer)}`);
  return { addresses: [...answer.addresses].sort(), ttl: answer.ttl };
}

/** Asserts the query rejects with an AgentError of `kind` whose message matches every pattern. */
async function rejectsWith(work: Promise<unknown>, kind: string, ...patterns: RegExp[]) {
  const err = await work.then(
    (v: unknown) => assert.fail(`expected a rejection, got ${JSON.stringify(v)}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof AgentError, String(err));
  assert.equal(err.kind, kind, err.message);
  for (const p of patterns) assert.match(err.message, p);
  return err;
}

describe("against dnsmasq", () => {
  let dns: Dnsmasq;
  before(async () => {
    dns = await startDnsmasq();
  });
  after(() => dns.stop());

  test("A and AAAA happy path, TTL from the server", async () => {
    await dns.setRecord(MON_A, ["10.10.0.1", "fd00:10::1"]);
    const r = resolver(dns.server);
    assert.deepEqual(sorted(await r.query(MON_A, 4, soon())), { addresses: ["10.10.0.1"], ttl: 1 });
    assert.deepEqual(sorted(await r.query(MON_A, 6, soon())), { addresses: ["fd00:10::1"], ttl: 1 });
  });

  test("several A records", async () => {
    await dns.setRecord(OSD_0, ["10.10.0.3", "10.10.0.1", "10.10.0.2"]);
    const answer = sorted(await resolver(dns.server).query(OSD_0, 4, soon()));
    assert.deepEqual(answer.addresses, ["10.10.0.1", "10.10.0.2", "10.10.0.3"]);
  });

  test("NODATA (name exists, no record of the family) vs NXDOMAIN", async () => {
    await dns.setRecord(MON_A, ["10.10.0.1"]);
    const r = resolver(dns.server);
    assert.deepEqual(await r.query(MON_A, 6, soon()), { kind: "nodata" });
    assert.deepEqual(await r.query("cl9.nope.rook-ceph.svc.clusterset.local.", 4, soon()), {
      kind: "nxdomain",
    });
    assert.deepEqual(await r.query("cl9.nope.rook-ceph.svc.clusterset.local.", 6, soon()), {
      kind: "nxdomain",
    });
  });

  test("record changes and removal are picked up (inotify, no client cache)", async () => {
    const r = resolver(dns.server);
    await dns.setRecord(MON_A, ["10.20.0.1"]);
    assert.deepEqual(sorted(await r.query(MON_A, 4, soon())).addresses, ["10.20.0.1"]);
    await dns.setRecord(MON_A, ["10.20.0.2"]);
    assert.deepEqual(sorted(await r.query(MON_A, 4, soon())).addresses, ["10.20.0.2"]);
    await dns.removeRecord(MON_A);
    assert.deepEqual(await r.query(MON_A, 4, soon()), { kind: "nxdomain" });
  });

  test("relative names are rejected before any query", async () => {
    const r = resolver(dns.server);
    await rejectsWith(
      r.query("cl1.rook-ceph-mon-a.rook-ceph.svc.clusterset.local", 4, soon()),
      "permanent",
      /not absolute/,
    );
    await rejectsWith(r.query(".", 4, soon()), "permanent", /not absolute/);
  });
});

describe("against dnsmasq on ::1", () => {
  let dns: Dnsmasq;
  before(async () => {
    dns = await startDnsmasq({ listen: "::1" });
  });
  after(() => dns.stop());

  test("[v6]:port server form", async () => {
    assert.match(dns.server, /^\[::1\]:\d+$/);
    await dns.setRecord(MON_A, ["fd00:10::7"]);
    assert.deepEqual(sorted(await resolver(dns.server).query(MON_A, 6, soon())).addresses, ["fd00:10::7"]);
  });
});

describe("against a scripted responder", () => {
  const started: Responder[] = [];
  const respond = async (handler: DnsHandler, tcp = false) => {
    const r = await startUdpResponder(handler, { tcp });
    started.push(r);
    return r;
  };
  after(() => Promise.all(started.map((r) => r.stop())));

  test("several records, TTL passed through, name sent without the dot", async () => {
    const srv = await respond(() => ({ kind: "addresses", addresses: ["10.0.0.2", "10.0.0.1"], ttl: 42 }));
    assert.deepEqual(sorted(await resolver(srv.server).query(MON_A, 4, soon())), {
      addresses: ["10.0.0.1", "10.0.0.2"],
      ttl: 42,
    });
    assert.deepEqual(srv.questions, [{ name: MON_A.slice(0, -1), type: "A", transport: "udp" }]);
  });

  test("SERVFAIL and REFUSED are retryable and say which name, which server and what to check", async () => {
    for (const kind of ["servfail", "refused"] as const) {
      const srv = await respond(() => ({ kind }));
      await rejectsWith(
        resolver(srv.server).query(MON_A, 4, soon()),
        "retryable",
        new RegExp(kind.toUpperCase()),
        new RegExp(srv.server.replace(/\./g, "\\.")),
        new RegExp(MON_A.replace(/\./g, "\\.")),
        /clusterset\.local/,
      );
    }
  });

  test("malformed reply: retryable, after c-ares re-sent it `tries` times", async () => {
    const srv = await respond(() => ({ kind: "malformed" }));
    await rejectsWith(resolver(srv.server, 500, 3).query(MON_A, 4, soon()), "retryable", /EBADRESP/);
    assert.equal(srv.questions.length, 3);
  });

  test("truncated UDP reply falls back to TCP", async () => {
    const srv = await respond(
      (q) => (q.transport === "udp" ? { kind: "truncated" } : { kind: "addresses", addresses: ["fd00::9"] }),
      true,
    );
    assert.deepEqual(sorted(await resolver(srv.server).query(MON_A, 6, soon())).addresses, ["fd00::9"]);
    assert.deepEqual(
      srv.questions.map((q) => q.transport),
      ["udp", "tcp"],
    );
  });

  test("truncated reply without TCP, and a closed port, are retryable", async () => {
    const srv = await respond(() => ({ kind: "truncated" }));
    await rejectsWith(resolver(srv.server).query(MON_A, 4, soon()), "retryable", /ECONNREFUSED/);
    const gone = await startUdpResponder(() => ({ kind: "nodata" }));
    await gone.stop();
    await rejectsWith(
      resolver(gone.server).query(MON_A, 4, soon()),
      "retryable",
      /ECONNREFUSED/,
      /check that the DNS server/,
    );
  });

  test("no reply: c-ares' own timeout is retryable", async () => {
    const srv = await respond(() => ({ kind: "drop" }));
    const t0 = performance.now();
    await rejectsWith(
      resolver(srv.server, 200, 2).query(MON_A, 4, soon()),
      "retryable",
      /no answer in time after 2 tries of 200 ms/,
      /ETIMEOUT/,
    );
    console.log(`# c-ares timeout 200 ms x 2 tries: ${(performance.now() - t0).toFixed(0)} ms`);
  });

  test("hard deadline: the caller's signal wins over long c-ares timeouts", async () => {
    const srv = await respond(() => ({ kind: "drop" }));
    const deadlineMs = 300;
    const t0 = performance.now();
    // c-ares alone would wait ~15 s here.
    await rejectsWith(
      resolver(srv.server, 5000, 3).query(MON_A, 4, AbortSignal.timeout(deadlineMs)),
      "retryable",
      /aborted/,
    );
    const took = performance.now() - t0;
    console.log(`# deadline ${deadlineMs} ms → rejected after ${took.toFixed(0)} ms`);
    assert.ok(took < deadlineMs + MARGIN_MS, `took ${took} ms`);
  });

  test("an aborted query is cancelled in c-ares: no more retries go out", async () => {
    const srv = await respond(() => ({ kind: "drop" }));
    await rejectsWith(
      resolver(srv.server, 50, 20).query(MON_A, 4, AbortSignal.timeout(200)),
      "retryable",
      /aborted/,
    );
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    await pause(100); // let a datagram sent just before the abort land
    const sent = srv.questions.length;
    await pause(400);
    assert.equal(srv.questions.length, sent, "queries sent after the abort");
  });

  test("cancelling one query does not cancel another on the same resolver", async () => {
    let seen = 0;
    // The first try of OSD_0 is dropped, so it is still in flight when MON_A's query is cancelled.
    const srv = await respond((q) =>
      q.name.includes("mon-a") || seen++ === 0
        ? { kind: "drop" }
        : { kind: "addresses", addresses: ["10.0.0.5"] },
    );
    const r = resolver(srv.server, 200, 4);
    const cancel = new AbortController();
    const slow = r.query(MON_A, 4, cancel.signal);
    const other = r.query(OSD_0, 4, soon());
    setTimeout(() => cancel.abort(), 100);
    await rejectsWith(slow, "permanent", /aborted/);
    assert.deepEqual(sorted(await other).addresses, ["10.0.0.5"]);
  });

  test("an aborted signal sends nothing; a long-lived signal keeps no listeners", async () => {
    const srv = await respond(() => ({ kind: "addresses", addresses: ["10.0.0.1"] }));
    const r = resolver(srv.server);
    await rejectsWith(r.query(MON_A, 4, AbortSignal.abort()), "permanent", /aborted/);
    assert.equal(srv.questions.length, 0);
    const shared = new AbortController().signal;
    for (let i = 0; i < 20; i++) await r.query(MON_A, 4, shared);
    assert.equal(getEventListeners(shared, "abort").length, 0);
  });

  test("invalid options are a ConfigError at construction", () => {
    assert.throws(
      () => new NodeDnsResolver({ servers: ["not-an-ip"], timeoutMs: 500, tries: 2 }),
      ConfigError,
    );
    assert.throws(
      () => new NodeDnsResolver({ servers: ["127.0.0.1:70000"], timeoutMs: 500, tries: 2 }),
      ConfigError,
    );
    assert.throws(
      () => new NodeDnsResolver({ servers: ["127.0.0.1"], timeoutMs: 500, tries: 0 }),
      ConfigError,
    );
  });
});
