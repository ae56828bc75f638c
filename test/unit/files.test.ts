import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { once } from "node:events";
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import type { Readable, Writable } from "node:stream";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { AgentError } from "../../agent/errors.ts";
import type { InitFilePort, InitResult } from "../../agent/init/files.ts";
import {
  CONTRACT_FILES,
  installWrapper,
  nodeFiles,
  writeDisabledOutputs,
  writeInitOutputs,
} from "../../agent/init/files.ts";
import { versionContent, versionOf } from "./fixtures/atomic-content.ts";

const NODE = fileURLToPath(new URL("../../node_modules/.bin/node", import.meta.url));
const WRITER = fileURLToPath(new URL("./fixtures/atomic-writer.ts", import.meta.url));
const WRAPPER = fileURLToPath(new URL("../../images/ceph-mcs-exec", import.meta.url));

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "ceph-mcs-files-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const leftovers = async (dir: string) => (await readdir(dir)).filter((n) => n.endsWith(".tmp"));
const modeOf = async (path: string) => (await stat(path)).mode & 0o7777;

test("writeAtomic replaces the content, honours the mode exactly and leaves no temp file", async (t) => {
  const dir = await tempDir(t);
  const files = nodeFiles();
  const path = join(dir, "f");
  const old = process.umask(0o077);
  try {
    await files.writeAtomic(path, "one\n");
    assert.equal(await modeOf(path), 0o644, "default mode despite umask 077");
    await files.writeAtomic(path, new Uint8Array([0, 1, 2]), 0o755);
    assert.equal(await modeOf(path), 0o755);
    assert.deepEqual([...(await readFile(path))], [0, 1, 2]);
    await files.writeAtomic(path, "three", 0o600);
    assert.equal(await modeOf(path), 0o600);
  } finally {
    process.umask(old);
  }
  assert.equal(await files.read(path), "three");
  assert.deepEqual(await readdir(dir), ["f"]);
});

test("read returns undefined for a missing file, remove says whether it existed", async (t) => {
  const dir = await tempDir(t);
  const files = nodeFiles();
  assert.equal(await files.read(join(dir, "nope")), undefined);
  await writeFile(join(dir, "x"), "x");
  assert.equal(await files.remove(join(dir, "x")), true);
  assert.equal(await files.remove(join(dir, "x")), false);
});

test("a failed write removes its temp file, keeps the old content and says which file", async (t) => {
  const dir = await tempDir(t);
  const files = nodeFiles();
  const path = join(dir, "target");
  await files.writeAtomic(path, "old");
  // rename onto a non-empty directory fails after the temp file was written in full
  const blocked = join(dir, "blocked");
  await mkdir(blocked);
  await writeFile(join(blocked, "child"), "");
  await assert.rejects(files.writeAtomic(blocked, "new"), (err: unknown) => {
    assert.ok(err instanceof AgentError);
    assert.match(err.message, /failed to write file atomically: .*\(.*blocked\): check the volume/);
    return true;
  });
  assert.deepEqual(await leftovers(dir), []);
  assert.equal(await files.read(path), "old");
});

test("writeAtomic into a missing or read-only directory fails with the path", async (t) => {
  const dir = await tempDir(t);
  const files = nodeFiles();
  await assert.rejects(files.writeAtomic(join(dir, "missing", "f"), "x"), /missing\/f/);
  if (process.getuid?.() === 0) {
    t.diagnostic("running as root: read-only directory case skipped (root ignores permissions)");
    return;
  }
  const ro = join(dir, "ro");
  await mkdir(ro);
  await chmod(ro, 0o555);
  t.after(() => chmod(ro, 0o755));
  await assert.rejects(files.writeAtomic(join(ro, "f"), "x"), /ro\/f/);
});

interface Writer {
  child: ChildProcessByStdio<Writable, Readable, null>;
  ready: Promise<unknown>;
}

/** A writer child that has loaded its code and waits for a line on stdin before writing. */
function startWriter(args: string[], cache: string): Writer {
  // the compile cache halves a start (TypeScript stripping is the slow part)
  const env = { ...process.env, NODE_COMPILE_CACHE: cache };
  const child = spawn(NODE, [WRITER, ...args], { stdio: ["pipe", "pipe", "inherit"], env });
  return { child, ready: once(child.stdout, "data") };
}

/** Lets the writer run for a random 0–40 ms (several writes of 2 MB), then SIGKILLs it. */
async function killMidWrite({ child, ready }: Writer): Promise<void> {
  await ready;
  child.stdin.write("go\n");
  await sleep(Math.floor(Math.random() * 40));
  child.kill("SIGKILL");
  await once(child, "exit");
}

test("SIGKILL mid-write: the file is always one complete version and the next write works", async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, "big");
  const size = 2 * 1024 * 1024;
  // bounded by count and time: a busy CI machine does fewer kills, never a longer test
  const maxKills = 30;
  const budgetMs = 8_000;
  const files = nodeFiles();
  await files.writeAtomic(path, versionContent(0, size), 0o600);
  const seen = new Set<number>();
  const started = Date.now();
  // The next writer starts while this one runs: a node start (~0.15 s), not the kill, is the slow part.
  const writer = (n: number) =>
    startWriter([path, String(size), String(1 + n * 1000), "600"], join(dir, "cache"));
  let next = writer(0);
  t.after(() => next.child.kill("SIGKILL"));
  let kills = 0;
  while (kills < maxKills && Date.now() - started < budgetMs) {
    const current = next;
    next = writer(kills + 1);
    await killMidWrite(current);
    const version = versionOf(await readFile(path), size);
    assert.ok(version !== undefined, `after kill ${kills + 1} the file is not exactly one complete version`);
    assert.equal(await modeOf(path), 0o600);
    seen.add(version);
    kills++;
  }
  const elapsed = Date.now() - started;
  const left = (await leftovers(dir)).length;
  t.diagnostic(
    `${kills} kills in ${elapsed} ms; ${seen.size} distinct versions seen; ${left} temp files left`,
  );
  assert.ok(seen.size > 1, "the writer never completed a write: the test proves nothing");
  assert.ok(left > 0, "no kill landed mid-write: the test proves nothing");
  assert.ok(kills >= 10, `only ${kills} kills in ${elapsed} ms: the machine is too slow for this test`);
  // leftovers from killed writers do not block the next one
  await files.writeAtomic(path, versionContent(99, size), 0o600);
  assert.equal(versionOf(await readFile(path), size), 99);
});

function result(over: Partial<InitResult> = {}): InitResult {
  return {
    schemaVersion: 1,
    daemon: { type: "mon", id: "a" },
    pod: "rook-ceph-mon-a-7d9f",
    namespace: "rook-ceph",
    enabled: true,
    globalIP: "242.1.255.10",
    family: 4,
    msgr2Only: false,
    sources: [
      { name: "globalIngressIP", value: "242.1.255.10", agreed: true },
      { name: "dns", value: "242.1.255.10", agreed: true },
      { name: "endpointSlice", value: null, agreed: false, detail: "not found" },
    ],
    export: {
      apiVersion: "multicluster.x-k8s.io/v1alpha1",
      conditions: [{ type: "Valid", status: "True", reason: "ServiceExported" }],
    },
    service: { name: "rook-ceph-mon-a", clusterIP: "10.96.0.10" },
    pin: { previous: null, changed: true },
    timings: {
      startedAt: "2026-01-01T00:00:00.000Z",
      validAt: "2026-01-01T00:00:01.000Z",
      writtenAt: "2026-01-01T00:00:02.000Z",
      totalMs: 2000,
    },
    ...over,
  };
}

/** Records the order of writes and removals on top of the real filesystem. */
function recording(): { files: InitFilePort; log: string[] } {
  const real = nodeFiles();
  const log: string[] = [];
  const files: InitFilePort = {
    read: (p) => real.read(p),
    writeAtomic: (p, d, m) => {
      log.push(`write ${p.slice(p.lastIndexOf("/") + 1)} ${m?.toString(8) ?? "-"}`);
      return real.writeAtomic(p, d, m);
    },
    remove: (p) => {
      log.push(`remove ${p.slice(p.lastIndexOf("/") + 1)}`);
      return real.remove(p);
    },
  };
  return { files, log };
}

test("writeInitOutputs writes wrapper and result first, public-addr last", async (t) => {
  const dir = await tempDir(t);
  const { files, log } = recording();
  await writeFile(join(dir, CONTRACT_FILES.msgr2Only), "true\n");
  await writeInitOutputs(files, dir, { result: result(), wrapperPath: WRAPPER });
  assert.deepEqual(log, [
    "write ceph-mcs-exec 755",
    "write result.json -",
    "remove msgr2-only",
    "write public-addr -",
  ]);
  assert.equal(await files.read(join(dir, "public-addr")), "242.1.255.10\n");
  assert.equal(await modeOf(join(dir, "ceph-mcs-exec")), 0o755);
  assert.equal(await files.read(join(dir, "ceph-mcs-exec")), await readFile(WRAPPER, "utf8"));
  const back = JSON.parse((await files.read(join(dir, "result.json"))) ?? "") as InitResult;
  assert.deepEqual(back, result());
  assert.deepEqual((await readdir(dir)).sort(), ["ceph-mcs-exec", "public-addr", "result.json"]);
});

test("writeInitOutputs writes the msgr2-only marker before public-addr", async (t) => {
  const dir = await tempDir(t);
  const { files, log } = recording();
  await writeInitOutputs(files, dir, { result: result({ msgr2Only: true }), wrapperPath: WRAPPER });
  assert.deepEqual(log, [
    "write ceph-mcs-exec 755",
    "write result.json -",
    "write msgr2-only -",
    "write public-addr -",
  ]);
});

test("writeInitOutputs refuses a disabled result", async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(
    writeInitOutputs(nodeFiles(), dir, {
      result: result({ enabled: false, globalIP: null }),
      wrapperPath: WRAPPER,
    }),
    /MCS disabled or no global IP.*\(mon\.a\): call writeDisabledOutputs/,
  );
  assert.deepEqual(await readdir(dir), []);
});

test("writeDisabledOutputs installs the wrapper and removes a previous run's switches", async (t) => {
  const dir = await tempDir(t);
  const files = nodeFiles();
  await writeInitOutputs(files, dir, { result: result({ msgr2Only: true }), wrapperPath: WRAPPER });
  assert.deepEqual(await writeDisabledOutputs(files, dir, WRAPPER), [
    "public-addr",
    "msgr2-only",
    "result.json",
  ]);
  assert.deepEqual(await readdir(dir), ["ceph-mcs-exec"]);
  assert.deepEqual(await writeDisabledOutputs(files, dir, WRAPPER), []);
});

test("installWrapper rejects a missing or non-sh wrapper with a hint", async (t) => {
  const dir = await tempDir(t);
  const files = nodeFiles();
  await assert.rejects(
    installWrapper(files, dir, join(dir, "nope")),
    /wrapper .*nope is missing.*released image/,
  );
  await writeFile(join(dir, "bad"), "#!/bin/bash\n");
  await assert.rejects(installWrapper(files, dir, join(dir, "bad")), /not a #!\/bin\/sh script/);
  assert.equal(await installWrapper(files, dir, WRAPPER), join(dir, "ceph-mcs-exec"));
});
