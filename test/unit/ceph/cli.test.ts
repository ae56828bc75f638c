// CephCli against a stand-in `ceph` program (a shell script that records its argv and answers with
// captured reef output, stderr and exit status), so the argv, timeouts and error classes are tested
// without a cluster. test/e2e/migration.test.ts runs the same adapter against real reef mons.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentError } from "../../../agent/errors.ts";
import { CephCli, cephMessage, classifyCephFailure } from "../../../agent/ceph/cli.ts";
import { monAddrvec } from "../../../agent/ceph/monmap.ts";

let dir = "";
let fake = "";

before(() => {
  dir = mkdtempSync(join(tmpdir(), "ceph-cli-test-"));
  fake = join(dir, "ceph");
  writeFileSync(
    fake,
    [
      "#!/bin/sh",
      'printf "%s\\n" "$@" > "$FAKE_DIR/args"',
      '[ -f "$FAKE_DIR/sleep" ] && sleep "$(cat "$FAKE_DIR/sleep")"',
      '[ -f "$FAKE_DIR/stdout" ] && cat "$FAKE_DIR/stdout"',
      '[ -f "$FAKE_DIR/stderr" ] && cat "$FAKE_DIR/stderr" >&2',
      'exit "$(cat "$FAKE_DIR/rc" 2>/dev/null || echo 0)"',
      "",
    ].join("\n"),
  );
  chmodSync(fake, 0o755);
});

after(() => rmSync(dir, { recursive: true, force: true }));

interface Answer {
  stdout?: string;
  stderr?: string;
  rc?: number;
  sleep?: number;
}

function answer(a: Answer): void {
  for (const key of ["stdout", "stderr", "rc", "sleep"] as const) {
    rmSync(join(dir, key), { force: true });
    const v = a[key];
    if (v !== undefined) writeFileSync(join(dir, key), String(v));
  }
}

const argsSeen = () => readFileSync(join(dir, "args"), "utf8").trimEnd().split("\n");
const fixture = (name: string) =>
  readFileSync(new URL(`../fixtures/ceph/${name}.json`, import.meta.url), "utf8");
const cli = (extra: Partial<ConstructorParameters<typeof CephCli>[0]> = {}) =>
  new CephCli({ argv: [fake, "-c", "/etc/ceph/a.conf"], env: { FAKE_DIR: dir }, ...extra });
const never = new AbortController().signal;

const isAgentError = (kind: string, message: RegExp) => (e: unknown) =>
  e instanceof AgentError && e.kind === kind && message.test(e.message);

test("quorum_status: argv prefix, connect timeout, JSON format; parses reef's output", async () => {
  answer({ stdout: fixture("reef-quorum-status") });
  const q = await cli({ connectTimeoutSeconds: 7 }).quorumStatus(never);
  assert.deepEqual(
    argsSeen(),
    ["-c", "/etc/ceph/a.conf", "quorum_status", "--connect-timeout", "7"].concat(["--format", "json"]),
  );
  assert.equal(q.leader, "a");
});

test("tell mon.<id> mon_status and mon dump <epoch>", async () => {
  answer({ stdout: fixture("reef-mon-status-b") });
  assert.equal((await cli().monStatus("b", never)).state, "peon");
  assert.deepEqual(argsSeen().slice(2, 5), ["tell", "mon.b", "mon_status"]);
  answer({ stdout: fixture("reef-mon-dump"), stderr: "dumped monmap epoch 1\n" });
  assert.equal((await cli().monDump(1, never)).epoch, 1);
  assert.deepEqual(argsSeen().slice(2, 5), ["mon", "dump", "1"]);
});

test("set-addrs: the addrvec in Ceph's form, sent through another mon with -m", async () => {
  answer({});
  await cli().setAddrs("b", monAddrvec("242.0.1.11", false), monAddrvec("10.96.0.10", false), never);
  assert.deepEqual(argsSeen().slice(2, 8), [
    "-m",
    "[v2:10.96.0.10:3300,v1:10.96.0.10:6789]",
    "mon",
    "set-addrs",
    "b",
    "[v2:242.0.1.11:3300,v1:242.0.1.11:6789]",
  ]);
  await cli().setAddrs("c", monAddrvec("fd00::c", true), undefined, never);
  assert.deepEqual(argsSeen().slice(2, 6), ["mon", "set-addrs", "c", "[v2:[fd00::c]:3300]"]);
});

test("monHost: asked at every call, dialled after the argv (wins over one there), before -m of set-addrs", async () => {
  answer({ stdout: fixture("reef-quorum-status") });
  let monHost: string | undefined = "[v2:10.96.0.10:3300,v1:10.96.0.10:6789]";
  const c = cli({ monHost: () => monHost });
  await c.quorumStatus(never);
  assert.deepEqual(argsSeen().slice(2, 5), ["--mon-host", monHost, "quorum_status"]);
  monHost = "[v2:242.0.1.10:3300,v1:242.0.1.10:6789]";
  answer({});
  await c.setAddrs("b", monAddrvec("242.0.1.11", false), monAddrvec("242.0.1.10", false), never);
  assert.deepEqual(argsSeen().slice(2, 7), ["--mon-host", monHost, "-m", monHost, "mon"]);
  monHost = undefined;
  answer({ stdout: fixture("reef-quorum-status") });
  await c.quorumStatus(never);
  assert.equal(argsSeen()[2], "quorum_status");
});

test("errors as reef prints them: ENOENT → notFound, EINVAL → permanent, both name the command", async () => {
  answer({ rc: 2, stderr: "Error ENOENT: mon.zz does not exist\n" });
  await assert.rejects(
    cli().setAddrs("zz", monAddrvec("242.0.1.19", false), undefined, never),
    isAgentError(
      "notFound",
      /^ceph mon set-addrs zz \[v2:242\.0\.1\.19.*failed \(exit 2\): Error ENOENT: mon\.zz does not exist \(mon\.zz\): /,
    ),
  );
  answer({ rc: 22, stderr: "Error EINVAL: failed to parse addrs 'garbage'\n" });
  await assert.rejects(
    cli().quorumStatus(never),
    isAgentError("permanent", /exit 22.*failed to parse addrs/),
  );
  answer({ rc: 11, stderr: "Error EAGAIN: try again\n" });
  await assert.rejects(cli().quorumStatus(never), isAgentError("retryable", /EAGAIN/));
});

test("no connection: 'timed out' is retryable; a missing keyring or config is permanent", async () => {
  const noise =
    "2026-11-25T02:12:35.324+0000 7f8095c1d6c0  0 --2- 10.244.0.100:0/448571110 >> [v2:242.0.1.12:3300/0] " +
    "conn(0x7f80).send_auth_request get_initial_auth_request returned -2\n";
  answer({ rc: 1, stderr: `${noise}timed out\n${noise}` });
  await assert.rejects(
    cli().quorumStatus(never),
    isAgentError(
      "retryable",
      /quorum_status failed \(exit 1\): timed out \(ceph cluster\): the mons may be electing/,
    ),
  );
  answer({ rc: 1, stderr: "[errno 2] RADOS object not found (error connecting to the cluster)\n" });
  await assert.rejects(cli().quorumStatus(never), isAgentError("permanent", /keyring/));
  answer({ rc: 1, stderr: "[errno 110] RADOS timed out (error connecting to the cluster)\n" });
  await assert.rejects(cli().quorumStatus(never), isAgentError("retryable", /RADOS timed out/));
});

test("the hard timeout kills the CLI and is retryable", async () => {
  answer({ sleep: 20, stdout: "{}" });
  await assert.rejects(
    cli({ callTimeoutMs: 300 }).quorumStatus(never),
    isAgentError("retryable", /no answer before the deadline|within 300 ms/),
  );
});

test("the caller's abort ends the call with the signal's reason", async () => {
  answer({ sleep: 20 });
  const ac = new AbortController();
  const call = cli().quorumStatus(ac.signal);
  setTimeout(() => ac.abort(new Error("lost the lease")), 100);
  await assert.rejects(call, /lost the lease/);
  await assert.rejects(cli().quorumStatus(ac.signal), /lost the lease/);
});

test("a missing program, garbage output and an empty command are permanent", async () => {
  const missing = new CephCli({ argv: [join(dir, "nope")] });
  await assert.rejects(
    missing.quorumStatus(never),
    isAgentError("permanent", /cannot start the program \(ENOENT\)/),
  );
  answer({ stdout: "HEALTH_OK\n" });
  await assert.rejects(cli().quorumStatus(never), isAgentError("permanent", /not JSON/));
  assert.throws(() => new CephCli({ argv: [] }), /the ceph command is empty/);
});

test("classification and message extraction (pure)", () => {
  const base = { exitCode: 1, signal: undefined, spawnCode: undefined, timedOut: false };
  assert.equal(cephMessage("a\n2026-11-25T02:12:35.324+0000 x\n\n"), "a");
  assert.equal(
    classifyCephFailure({ ...base, exitCode: undefined, signal: "SIGKILL", stderr: "" }).kind,
    "retryable",
  );
  assert.equal(classifyCephFailure({ ...base, exitCode: 110, stderr: "" }).kind, "retryable");
  assert.equal(classifyCephFailure({ ...base, stderr: "Error EPERM: access denied" }).kind, "permanent");
  assert.equal(
    classifyCephFailure({ ...base, stderr: "Error initializing cluster client: ObjectNotFound('…')" }).kind,
    "permanent",
  );
});
