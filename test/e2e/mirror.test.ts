// Issue 7, the user story: an RBD image written in cluster A is mirrored to cluster B although both
// use the same pod CIDR; every address that crosses between them is a global IP obtained by
// `ceph-mcs-agent init` (mons, OSDs) or by a Service export (mgr). Then failover to B, failback to A,
// and faults on the way (A's OSD pod re-created, B's rbd-mirror restarted).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { e2eSkipReason, fmtSeconds } from "./harness/host.ts";
import { waitFor } from "./harness/ceph.ts";
import { Site } from "./harness/site.ts";
import { decodeToken, imageInfo, imageMd5, mirrorStatus, rbd, waitSameImage } from "./harness/rbd.ts";
import { startWorld, type World } from "./harness/world.ts";

const skip = e2eSkipReason();
const IMAGE = "img1";
const MiB = 1 << 20;
const SYNC_TIMEOUT = 300_000;

describe("e2e: RBD mirroring between clusters with the same pod CIDR", { skip, timeout: 1_800_000 }, () => {
  let w: World;
  let a: Site;
  let b: Site;
  const summary: string[] = [];
  let written = 0;

  const note = (line: string): void => {
    summary.push(line);
    w.timeline.mark(line);
  };

  /** `rbd bench` random writes in `site`'s image; counts the bytes. */
  const bench = async (site: Site, mib: number): Promise<void> => {
    await rbd(site, [
      "bench",
      "--io-type",
      "write",
      "--io-size",
      "64K",
      "--io-total",
      `${mib}M`,
      "--io-pattern",
      "rand",
      `rbd/${IMAGE}`,
    ]);
    written += mib * MiB;
  };

  before(async () => {
    // B's mons speak msgr2 only (Rook's requireMsgr2): both wrapper paths are exercised.
    w = await startWorld({ clusters: { b: { requireMsgr2: true } } });
    a = await Site.create(w, { name: "a", mons: ["a", "b", "c"], osds: 1 });
    b = await Site.create(w, { name: "b", mons: ["a"], osds: 1, msgr2Only: true });
  });

  after(async () => {
    const started = w as World | undefined; // unset when before() failed
    if (!started) return;
    process.stderr.write(`\n${started.timeline.render("e2e RBD mirroring: timeline")}\n`);
    process.stderr.write(`\n── summary\n${summary.map((l) => `  ${l}`).join("\n")}\n\n`);
    await started.stop();
  });

  test("both clusters come up: every mon and OSD through agent init + ceph-mcs-exec, mgr, global IPs only", async () => {
    await Promise.all([a.startMons(), b.startMons()]);
    await Promise.all([a.startOsds(), b.startOsds()]);
    await Promise.all([a.startMgr(), b.startMgr()]);
    for (const s of [a, b]) {
      const net = s.name === "a" ? /^242\.0\.1\./ : /^242\.0\.2\./;
      for (const [daemon, ip] of Object.entries(s.globals)) assert.match(ip, net, `${s.name} ${daemon}`);
    }
    note(`cluster a: ${JSON.stringify(a.globals)}`);
    note(`cluster b: ${JSON.stringify(b.globals)}`);
  });

  test("peering as Rook users do: bootstrap token from A (A's global IPs) imported in B", async () => {
    await Promise.all([preparePool(a, "site-a"), preparePool(b, "site-b")]);
    const raw = await rbd(a, [
      "mirror",
      "pool",
      "peer",
      "bootstrap",
      "create",
      "--site-name",
      "site-a",
      "rbd",
    ]);
    const token = decodeToken(raw);
    const tokenIps = [...token.mon_host.matchAll(/(\d+\.\d+\.\d+\.\d+):\d+/g)].map((m) => m[1]);
    note(`bootstrap token from A: client ${token.client_id}, mon_host ${token.mon_host}`);
    assert.deepEqual(
      new Set(tokenIps),
      new Set(a.mons.map((id) => a.globals[`mon.${id}`])),
      "token carries A's global IPs",
    );
    await writeFile(b.ceph.host("/e2e/token-a"), raw);
    // rx-tx: B also registers itself as a peer in A (with B's global mon_host), so A can fail back.
    await rbd(b, [
      "mirror",
      "pool",
      "peer",
      "bootstrap",
      "import",
      "--site-name",
      "site-b",
      "--direction",
      "rx-tx",
      "rbd",
      "/e2e/token-a",
    ]);
    const infoA = await rbd(a, ["mirror", "pool", "info", "rbd", "--all", "--format", "json"]);
    const infoB = await rbd(b, ["mirror", "pool", "info", "rbd", "--all", "--format", "json"]);
    note(`peers: A knows ${peerSummary(infoA)}; B knows ${peerSummary(infoB)}`);
    assert.match(infoB, new RegExp(a.globals["mon.a"]!.replace(/\./g, "\\.")));
    assert.match(infoA, new RegExp(b.globals["mon.a"]!.replace(/\./g, "\\.")));
    await Promise.all([b.startRbdMirror(), a.startRbdMirror()]);
  });

  test("an image written in A appears byte-identical in B", async () => {
    const data = randomBytes(64 * MiB);
    await writeFile(a.ceph.host("/e2e/data-1.bin"), data);
    const t0 = Date.now();
    await rbd(a, [
      "import",
      "--image-feature",
      "layering,exclusive-lock,journaling",
      "/e2e/data-1.bin",
      `rbd/${IMAGE}`,
    ]);
    written += data.length;
    assert.equal(
      await imageMd5(a, IMAGE),
      createHash("md5").update(data).digest("hex"),
      "A holds what was imported",
    );
    await rbd(a, ["mirror", "image", "enable", `rbd/${IMAGE}`, "journal"]);
    await bench(a, 16);
    const first = await waitSameImage(a, b, IMAGE, SYNC_TIMEOUT);
    note(
      `first sync: ${written / MiB} MiB written in A (64 MiB import + 16 MiB random 64K writes, journal mode) → equal in B ${fmtSeconds(Date.now() - t0)} after the import; md5 ${first.md5}`,
    );
    const st = await waitFor(
      "B's image up+replaying",
      async () => {
        const s = await mirrorStatus(b, IMAGE);
        return s.state === "up+replaying" ? s : undefined;
      },
      120_000,
    );
    note(`B: mirror image status ${st.state} (daemon reporting through B's mgr)`);
  });

  test("faults: A's OSD pod re-created (same global IP from the pin), B's rbd-mirror restarted; mirroring resumes", async () => {
    await bench(a, 8);
    const beforeRestart = await imageMd5(a, IMAGE);
    const t0 = Date.now();
    await a.restartOsd("0", 21);
    assert.equal(await imageMd5(a, IMAGE), beforeRestart, "A's OSD came back with all its data");
    await b.restartRbdMirror();
    await bench(a, 8);
    const r = await waitSameImage(a, b, IMAGE, SYNC_TIMEOUT);
    note(
      `after the faults: ${written / MiB} MiB written in A in total → equal in B ${fmtSeconds(Date.now() - t0)} after the OSD restart began; md5 ${r.md5}`,
    );
  });

  test("failover: demote in A, promote in B, write in B; failback copy reaches A", async () => {
    const t0 = Date.now();
    await rbd(a, ["mirror", "image", "demote", `rbd/${IMAGE}`]);
    // B can promote without --force once it has replayed A's demotion.
    await waitFor(
      "orderly promote in B",
      async () => {
        await rbd(b, ["mirror", "image", "promote", `rbd/${IMAGE}`], 60_000);
        return true;
      },
      120_000,
      2000,
    );
    const infoB = await imageInfo(b, IMAGE);
    assert.equal(infoB.mirroring?.primary, true, "B's copy is primary after the promotion");
    note(`failover: A demoted, B promoted ${fmtSeconds(Date.now() - t0)} later`);
    await bench(b, 16);
    const back = await waitSameImage(b, a, IMAGE, SYNC_TIMEOUT);
    note(
      `16 MiB written in B → A's (now non-primary) copy equal ${fmtSeconds(back.ms)} later; md5 ${back.md5}`,
    );
    assert.equal((await imageInfo(a, IMAGE)).mirroring?.primary, false);
  });

  test("nothing but global IPs crossed between the clusters (gateway guards dropped and counted 0)", async () => {
    const [ca, cb] = [await w.topology.counters("a"), await w.topology.counters("b")];
    const transitMiB = (ca.transit_ok.bytes / MiB).toFixed(1);
    note(
      `guards: ${transitMiB} MiB over the transit link (gateway a), non-global packets across it ${ca.transit_bad.packets + cb.transit_bad.packets}; ` +
        `client/rbd-mirror pods → pod IPs ${ca.pod_cidr.packets + cb.pod_cidr.packets}, → other non-global ${ca.not_global.packets + cb.not_global.packets}, ` +
        `→ global IPs ${ca.global_only_ok.packets + cb.global_only_ok.packets} packets`,
    );
    assert.equal(ca.transit_bad.packets + cb.transit_bad.packets, 0);
    assert.equal(
      ca.pod_cidr.packets + cb.pod_cidr.packets,
      0,
      "no client or rbd-mirror ever dialled a pod IP",
    );
    assert.equal(ca.not_global.packets + cb.not_global.packets, 0);
    assert.ok(ca.transit_ok.bytes > 64 * MiB, "the image crossed the transit link");
  });
});

/** Pool `rbd`, initialised for RBD, mirroring enabled in image mode under the site's name. */
async function preparePool(s: Site, siteName: string): Promise<void> {
  const t0 = Date.now();
  await s.ceph.ceph(s.cli, ["osd", "pool", "create", "rbd", "8", "8"]);
  const t1 = Date.now();
  await rbd(s, ["pool", "init", "rbd"]);
  const t2 = Date.now();
  await rbd(s, ["mirror", "pool", "enable", "--site-name", siteName, "rbd", "image"]);
  s.mark(
    `pool rbd: created ${fmtSeconds(t1 - t0)}, rbd pool init ${fmtSeconds(t2 - t1)}, mirroring on as ${siteName} ${fmtSeconds(Date.now() - t2)}`,
  );
}

function peerSummary(json: string): string {
  const info = JSON.parse(json) as { peers?: { site_name: string; mon_host?: string; direction?: string }[] };
  return (info.peers ?? [])
    .map((p) => `${p.site_name} (${p.direction ?? "?"}, mon_host ${p.mon_host ?? "?"})`)
    .join(", ");
}
