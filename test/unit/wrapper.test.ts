// Runs the real images/ceph-mcs-exec under dash and busybox sh with stub daemons that print their
// argv, and proves it agrees with agent/ceph/flags.ts.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { AgentError } from "../../agent/errors.ts";
import type { DaemonAddressing } from "../../agent/ceph/flags.ts";
import { daemonFlags, daemonTypeFromBinary, ipFamily, rewriteArgs } from "../../agent/ceph/flags.ts";

const WRAPPER = fileURLToPath(new URL("../../images/ceph-mcs-exec", import.meta.url));

interface Shell {
  name: string;
  argv: string[];
  skip: string | false;
}

const SHELLS: Shell[] = [
  { name: "dash", argv: ["/usr/bin/dash"], skip: false },
  {
    name: "busybox sh",
    argv: ["/bin/busybox", "sh"],
    skip: existsSync("/bin/busybox") ? false : "/bin/busybox is not installed (apt-get install busybox)",
  },
];

// A daemon that proves it ran and prints its name and arguments, one per line.
const STUB = `#!/bin/sh
: > "$STUB_RAN"
printf '%s\\n' "\${0##*/}"
for a in "$@"; do printf '%s\\n' "$a"; done
`;

let root = "";
let bin = "";
let runs = 0;

before(() => {
  root = mkdtempSync(join(tmpdir(), "ceph-mcs-exec-"));
  bin = join(root, "bin");
  mkdirSync(bin);
  for (const name of ["ceph-mon", "ceph-osd", "rook", "ceph-mgr"]) {
    writeFileSync(join(bin, name), STUB, { mode: 0o755 });
  }
});
after(() => rmSync(root, { recursive: true, force: true }));

interface RunOptions {
  /** Content of public-addr (a newline is added); absent → no file. */
  publicAddr?: string;
  marker?: boolean;
  env?: Record<string, string | undefined>;
}

interface RunResult {
  status: number | null;
  /** The daemon's argv as the stub printed it, binary name first. */
  argv: string[];
  stderr: string;
  ran: boolean;
}

function run(shell: Shell, argv: readonly string[], options: RunOptions = {}): RunResult {
  const dir = join(root, `run-${++runs}`);
  mkdirSync(dir);
  if (options.publicAddr !== undefined) writeFileSync(join(dir, "public-addr"), `${options.publicAddr}\n`);
  if (options.marker === true) writeFileSync(join(dir, "msgr2-only"), "true\n");
  const ranFile = join(dir, "ran");
  const env = envFor({ CEPH_MCS_DIR: dir, STUB_RAN: ranFile, POD_IP: "10.244.0.10", ...options.env });
  const [cmd, ...shellArgs] = shell.argv;
  // cwd = the stub directory, so an unquoted * would expand to file names
  const r = spawnSync(cmd!, [...shellArgs, WRAPPER, ...argv], { env, cwd: bin, encoding: "utf8" });
  const lines = r.stdout === "" ? [] : r.stdout.replace(/\n$/, "").split("\n");
  return { status: r.status, argv: lines, stderr: r.stderr, ran: existsSync(ranFile) };
}

function envFor(vars: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string> = { PATH: `${bin}:/usr/bin:/bin`, LC_ALL: "C.UTF-8" };
  for (const [k, v] of Object.entries(vars)) if (v !== undefined) env[k] = v;
  return env;
}

const GLOBAL = "242.1.255.10";
const POD = "10.244.0.10";

// Rook's mon container args (mon/spec.go), $(VAR)s left as Kubernetes would not expand them here.
const MON_ARGS = [
  "--fsid=4f3c8a8e-1111-4b4b-9c9c-000000000001",
  "--keyring=/etc/ceph/keyring-store/keyring",
  "--default-log-to-stderr=true",
  "--mon-host=$(ROOK_CEPH_MON_HOST)",
  "--mon-initial-members=$(ROOK_CEPH_MON_INITIAL_MEMBERS)",
  "--id=a",
  "--setuser=ceph",
  "--setgroup=ceph",
  "--foreground",
  "--public-addr=10.96.0.10",
  "--setuser-match-path=/var/lib/ceph/mon/ceph-a/store.db",
  "--public-bind-addr=$(ROOK_POD_IP)",
];
const MON_KEPT = MON_ARGS.filter((a) => !a.startsWith("--public-"));

// Rook's init-mon-fs container: ceph-mon <DaemonFlags> --public-addr=<ip> --mkfs
const MKFS_ARGS = [...MON_ARGS.slice(0, 8), "--public-addr=10.96.0.10", "--mkfs"];
const MKFS_KEPT = [...MON_ARGS.slice(0, 8), "--mkfs"];

const OSD_ARGS = [
  "--foreground",
  "--id",
  "3",
  "--fsid",
  "4f3c8a8e-1111-4b4b-9c9c-000000000001",
  "--setuser",
  "ceph",
  "--crush-location=root=default host=node-1",
  "--ms-learn-addr-from-peer=false",
  "--public-addr=242.1.0.5",
  "--public-bind-addr=$(ROOK_POD_IP)",
  "--cluster-addr=$(ROOK_POD_IP)",
];
const OSD_KEPT = OSD_ARGS.slice(0, 9);

// Every spelling Ceph accepts for the three address flags, both value forms.
const ADDR_FORMS = [
  "--public-addr",
  "1.1.1.1",
  "--public_addr=2.2.2.2",
  "--public-bind-addr",
  "3.3.3.3",
  "--public_bind_addr=4.4.4.4",
  "--public-bind_addr",
  "5.5.5.5",
  "--cluster-addr=6.6.6.6",
  "--cluster_addr",
  "7.7.7.7",
  "--public-addrx=8",
  "--public-network=10.0.0.0/8",
  "public-addr=9",
  "--keep",
];
const ADDR_FORMS_KEPT = ["--public-addrx=8", "--public-network=10.0.0.0/8", "public-addr=9", "--keep"];

const MSGR1_FORMS = [
  "--ms-bind-msgr1",
  "false",
  "--ms_bind_msgr1=true",
  "--no-ms-bind-msgr1",
  "--ms-bind-msgr1",
  "--foreground",
  "--ms-bind-msgr2=true",
];

const WEIRD = [
  "a b",
  "  lead and trail  ",
  "it's",
  '"double"',
  "*",
  "/*",
  "?",
  "[a-z]",
  "$HOME",
  "$(id)",
  "`id`",
  "back\\slash",
  "tab\there",
  "",
  "-n",
  "-e",
  "--",
  "ünïcødé",
  "a=b=c",
  "--x= y",
  "%s%d",
];

const monFlags = (g = GLOBAL, p = POD) => [`--public-addr=${g}`, `--public-bind-addr=${p}`];
const osdFlags = (g = GLOBAL, p = POD) => [
  `--public-addr=${g}`,
  `--public-bind-addr=${p}`,
  `--cluster-addr=${p}`,
];

const FAMILIES = [
  { globalIP: GLOBAL, podIP: POD },
  { globalIP: "fd00:242::a", podIP: "fd00:10:244::5" },
];
const ARG_SETS = [MON_ARGS, MKFS_ARGS, OSD_ARGS, ADDR_FORMS, MSGR1_FORMS, WEIRD, []];
const MATRIX: { input: DaemonAddressing; args: string[] }[] = (["mon", "osd"] as const).flatMap((type) =>
  [false, true].flatMap((msgr2Only) =>
    FAMILIES.flatMap((ips) => ARG_SETS.map((args) => ({ input: { type, msgr2Only, ...ips }, args }))),
  ),
);

function assertRan(r: RunResult, expected: string[]): void {
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.argv, expected);
}

function assertRefused(r: RunResult, message: RegExp): void {
  assert.equal(r.status, 2, `expected exit 2; stderr: ${r.stderr}`);
  assert.equal(r.ran, false, "the daemon must not run");
  assert.deepEqual(r.argv, []);
  assert.match(r.stderr, message);
}

for (const shell of SHELLS) {
  describe(`ceph-mcs-exec under ${shell.name}`, { skip: shell.skip }, () => {
    test("mon: Rook's address flags replaced by the global IP and the pod IP", () => {
      assertRan(run(shell, ["ceph-mon", ...MON_ARGS], { publicAddr: GLOBAL }), [
        "ceph-mon",
        ...MON_KEPT,
        ...monFlags(),
      ]);
    });

    test("mon msgr2-only (marker file): port 3300 on both addresses, msgr1 off", () => {
      const args = [...MON_ARGS, "--ms-bind-msgr1=false", "--public-bind-addr=10.244.0.10:3300"];
      const r = run(shell, ["ceph-mon", ...args], { publicAddr: GLOBAL, marker: true });
      const flags = [
        `--public-addr=${GLOBAL}:3300`,
        `--public-bind-addr=${POD}:3300`,
        "--ms-bind-msgr1=false",
      ];
      assertRan(r, ["ceph-mon", ...MON_KEPT, ...flags]);
    });

    test("mon msgr2-only (CEPH_MCS_MSGR2_ONLY=true)", () => {
      const r = run(shell, ["ceph-mon", "--foreground"], {
        publicAddr: GLOBAL,
        env: { CEPH_MCS_MSGR2_ONLY: "true" },
      });
      const flags = [
        `--public-addr=${GLOBAL}:3300`,
        `--public-bind-addr=${POD}:3300`,
        "--ms-bind-msgr1=false",
      ];
      assertRan(r, ["ceph-mon", "--foreground", ...flags]);
    });

    test("osd: public and cluster address flags replaced", () => {
      const r = run(shell, ["ceph-osd", ...OSD_ARGS], { publicAddr: GLOBAL });
      assertRan(r, ["ceph-osd", ...OSD_KEPT, ...osdFlags()]);
    });

    test("osd msgr2-only: no ports (OSDs bind dynamically), msgr1 off", () => {
      const r = run(shell, ["ceph-osd", ...OSD_ARGS], { publicAddr: GLOBAL, marker: true });
      assertRan(r, ["ceph-osd", ...OSD_KEPT, ...osdFlags(), "--ms-bind-msgr1=false"]);
    });

    test("IPv6: addresses in brackets, port after the bracket", () => {
      const g = "fd00:242::a";
      const env = { POD_IP: "fd00:10:244::5" };
      const mon = run(shell, ["ceph-mon", "--foreground"], { publicAddr: g, env });
      assertRan(mon, ["ceph-mon", "--foreground", ...monFlags(`[${g}]`, "[fd00:10:244::5]")]);
      const mon2 = run(shell, ["ceph-mon"], { publicAddr: g, env, marker: true });
      const flags2 = [
        `--public-addr=[${g}]:3300`,
        "--public-bind-addr=[fd00:10:244::5]:3300",
        "--ms-bind-msgr1=false",
      ];
      assertRan(mon2, ["ceph-mon", ...flags2]);
      const osd = run(shell, ["ceph-osd"], { publicAddr: g, env });
      assertRan(osd, ["ceph-osd", ...osdFlags(`[${g}]`, "[fd00:10:244::5]")]);
    });

    test("every spelling and value form of the address flags is dropped, look-alikes kept", () => {
      const r = run(shell, ["ceph-osd", ...ADDR_FORMS], { publicAddr: GLOBAL });
      assertRan(r, ["ceph-osd", ...ADDR_FORMS_KEPT, ...osdFlags()]);
      const last = run(shell, ["ceph-mon", "--keep", "--public-addr"], { publicAddr: GLOBAL });
      assertRan(last, ["ceph-mon", "--keep", ...monFlags()]);
    });

    test("msgr1 flags: dropped only when msgr2-only; a bool flag does not swallow the next option", () => {
      const off = run(shell, ["ceph-osd", ...MSGR1_FORMS], { publicAddr: GLOBAL });
      assertRan(off, ["ceph-osd", ...MSGR1_FORMS, ...osdFlags()]);
      const on = run(shell, ["ceph-osd", ...MSGR1_FORMS], { publicAddr: GLOBAL, marker: true });
      assertRan(on, [
        "ceph-osd",
        "--foreground",
        "--ms-bind-msgr2=true",
        ...osdFlags(),
        "--ms-bind-msgr1=false",
      ]);
    });

    test("arguments with spaces, quotes, globs, $, backslashes and empty ones survive byte for byte", () => {
      const r = run(shell, ["ceph-mon", ...WEIRD], { publicAddr: GLOBAL });
      assertRan(r, ["ceph-mon", ...WEIRD, ...monFlags()]);
    });

    test("init-mon-fs: ceph-mon --mkfs seeds the monmap with the global IP", () => {
      assertRan(run(shell, ["ceph-mon", ...MKFS_ARGS], { publicAddr: GLOBAL }), [
        "ceph-mon",
        ...MKFS_KEPT,
        ...monFlags(),
      ]);
      const v2 = run(shell, ["ceph-mon", ...MKFS_ARGS], { publicAddr: GLOBAL, marker: true });
      const flags2 = [
        `--public-addr=${GLOBAL}:3300`,
        `--public-bind-addr=${POD}:3300`,
        "--ms-bind-msgr1=false",
      ];
      assertRan(v2, ["ceph-mon", ...MKFS_KEPT, ...flags2]);
    });

    test("disabled (no public-addr): the command runs unchanged, POD_IP not needed, one log line", () => {
      const argv = ["ceph-mon", ...MON_ARGS, ...WEIRD];
      const r = run(shell, argv, { marker: true, env: { POD_IP: undefined } });
      assertRan(r, argv);
      assert.equal(r.stderr.split("\n").length, 2, r.stderr);
      assert.match(
        r.stderr,
        /^ceph-mcs-exec: \S+\/public-addr absent, MCS disabled; exec unchanged: ceph-mon --fsid=/,
      );
    });

    test("garbage in public-addr: exit 2, the daemon never runs", () => {
      const garbage = [
        "garbage",
        "",
        "10.0.0",
        "10.0.0.256",
        "010.0.0.1",
        "10.0.0.1:6789",
        "[fd00::1]",
        "fd00::1%eth0",
        "10.0.0.1 10.0.0.2",
        " 10.0.0.1",
        "10.0.0.1\r",
        "10.0.0.1\n10.0.0.2",
        "1:2:3:4:5:6:7:8:9",
        "$(reboot)",
      ];
      for (const value of garbage) {
        const r = run(shell, ["ceph-mon", "--foreground"], { publicAddr: value });
        assertRefused(r, /public-addr holds ".*", not a bare IPv4\/IPv6 address/s);
      }
    });

    test("missing or bad POD_IP: exit 2, the daemon never runs", () => {
      const missing = run(shell, ["ceph-mon"], { publicAddr: GLOBAL, env: { POD_IP: undefined } });
      assertRefused(
        missing,
        /POD_IP \(or Rook's ROOK_POD_IP\) is not set; add env POD_IP from fieldRef status\.podIP/,
      );
      const empty = run(shell, ["ceph-mon"], { publicAddr: GLOBAL, env: { POD_IP: "" } });
      assertRefused(empty, /ROOK_POD_IP\) is not set/);
      const bad = run(shell, ["ceph-mon"], { publicAddr: GLOBAL, env: { POD_IP: "$(ROOK_POD_IP)" } });
      assertRefused(bad, /POD_IP "\$\(ROOK_POD_IP\)" is not an IP address/);
    });

    test("Rook's ROOK_POD_IP stands in for POD_IP", () => {
      const r = run(shell, ["ceph-mon", "--foreground"], {
        publicAddr: GLOBAL,
        env: { POD_IP: undefined, ROOK_POD_IP: POD },
      });
      assertRan(r, ["ceph-mon", "--foreground", ...monFlags()]);
    });

    test("daemon type: CEPH_MCS_DAEMON_TYPE wins; unknown binaries and values are refused", () => {
      const rook = run(shell, ["rook", "ceph", "osd", "start", "--", "--public-addr=1.1.1.1", "--id", "3"], {
        publicAddr: GLOBAL,
        env: { CEPH_MCS_DAEMON_TYPE: "osd" },
      });
      assertRan(rook, ["rook", "ceph", "osd", "start", "--", "--id", "3", ...osdFlags()]);
      const byPath = run(shell, [join(bin, "ceph-osd")], { publicAddr: GLOBAL });
      assertRan(byPath, ["ceph-osd", ...osdFlags()]);
      assertRefused(run(shell, ["ceph-mgr"], { publicAddr: GLOBAL }), /set CEPH_MCS_DAEMON_TYPE=mon or osd/);
      const mgr = run(shell, ["ceph-mgr"], { publicAddr: GLOBAL, env: { CEPH_MCS_DAEMON_TYPE: "mgr" } });
      assertRefused(mgr, /CEPH_MCS_DAEMON_TYPE="mgr" is not mon or osd/);
      const yes = run(shell, ["ceph-mon"], { publicAddr: GLOBAL, env: { CEPH_MCS_MSGR2_ONLY: "yes" } });
      assertRefused(yes, /CEPH_MCS_MSGR2_ONLY="yes" is not true or false/);
    });

    test("no command: exit 2 with usage", () => {
      assertRefused(run(shell, [], { publicAddr: GLOBAL }), /usage: ceph-mcs-exec <daemon-binary>/);
    });

    test("logs the final argv on one line, shell-quoted", () => {
      const r = run(shell, ["ceph-mon", "a b", "it's", "--public-addr=10.96.0.10"], {
        publicAddr: "fd00::1",
      });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(
        r.stderr,
        "ceph-mcs-exec: MCS on (mon, global fd00::1, pod 10.244.0.10, msgr2-only false); exec: " +
          "ceph-mon 'a b' 'it'\\''s' '--public-addr=[fd00::1]' --public-bind-addr=10.244.0.10\n",
      );
    });

    test("agrees with rewriteArgs on the matrix of daemon × msgr2-only × family × arguments", () => {
      assert.equal(MATRIX.length, 56);
      for (const { input, args } of MATRIX) {
        const daemon = `ceph-${input.type}`;
        const r = run(shell, [daemon, ...args], {
          publicAddr: input.globalIP,
          marker: input.msgr2Only,
          env: { POD_IP: input.podIP },
        });
        assertRan(r, [daemon, ...rewriteArgs(args, input)]);
      }
    });

    test("agrees with rewriteArgs on random arguments (property)", () => {
      const token = fc.oneof(
        fc.constantFrom(...ADDR_FORMS, ...MSGR1_FORMS, "--public-addr=", "--ms_bind-msgr1", "0", "1", "-"),
        fc.string({
          unit: fc.constantFrom("-", "_", "=", " ", "'", '"', "*", "$", "\\", "a", "p", "\t", "é"),
        }),
      );
      fc.assert(
        fc.property(
          fc.array(token, { maxLength: 8 }),
          fc.constantFrom("mon" as const, "osd" as const),
          fc.boolean(),
          (args, type, msgr2Only) => {
            const r = run(shell, [`ceph-${type}`, ...args], { publicAddr: GLOBAL, marker: msgr2Only });
            const expected = rewriteArgs(args, { type, msgr2Only, globalIP: GLOBAL, podIP: POD });
            assertRan(r, [`ceph-${type}`, ...expected]);
          },
        ),
        { numRuns: 60 },
      );
    });

    test("accepts exactly the addresses ipFamily accepts (node:net without zone ids)", () => {
      const corpus = [
        "0.0.0.0",
        "255.255.255.255",
        "1.2.3.04",
        "::",
        "::1",
        "1::",
        "1:2:3:4:5:6:7::",
        "1:2:3:4:5:6:7:8::",
        "1::2:3:4:5:6:7:8",
        "::ffff:1.2.3.4",
        "1:2:3:4:5:6:1.2.3.4",
        "1:2:3:4:5:6:7:1.2.3.4",
        "::1.2.3.4",
        "1.2.3.4::",
        ":1::",
        "1:::2",
        "12345::",
        "FD00::ABCD",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7",
        "::1:",
        "::1.2.3",
        ".::00:00:0:0.0.0.0",
        "::1.2.3.4.5",
        "1.2.3.4.5",
      ];
      const check = (value: string) => {
        const r = run(shell, ["ceph-mon"], { publicAddr: value });
        assert.equal(r.status === 0, ipFamily(value) !== undefined, `${value}: exit ${r.status} ${r.stderr}`);
      };
      corpus.forEach(check);
      const hexy = fc.string({
        unit: fc.constantFrom(..."0123456789abcdefABCDEF:.%".split("")),
        maxLength: 45,
      });
      // valid IPv6 addresses with one edit, to probe the edges
      const edited = fc
        .tuple(fc.ipV6(), fc.nat(40), fc.constantFrom(":", "::", ".", "0", "", "1.2.3.4"))
        .map(([ip, at, text]) => ip.slice(0, at) + text + ip.slice(at));
      const ips = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), hexy, edited);
      fc.assert(fc.property(ips, check), { numRuns: 120 });
    });
  });
}

describe("flags.ts", () => {
  test("daemonFlags refuses what is not a bare IP, naming the daemon", () => {
    for (const bad of ["[fd00::1]", "10.0.0.1:3300", "fe80::1%eth0", "", "host.example"]) {
      assert.throws(
        () => daemonFlags({ type: "mon", globalIP: bad, podIP: POD, msgr2Only: false }),
        (err: unknown) =>
          err instanceof AgentError && err.kind === "permanent" && /mon daemon flags/.test(err.message),
      );
    }
    assert.throws(
      () => daemonFlags({ type: "osd", globalIP: GLOBAL, podIP: "x", msgr2Only: true }),
      /pod IP "x"/,
    );
  });

  test("daemonTypeFromBinary reads the basename", () => {
    assert.equal(daemonTypeFromBinary("/usr/bin/ceph-mon"), "mon");
    assert.equal(daemonTypeFromBinary("ceph-osd"), "osd");
    assert.equal(daemonTypeFromBinary("/usr/bin/ceph-mgr"), undefined);
    assert.equal(daemonTypeFromBinary("ceph-mon-x"), undefined);
  });
});
