import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const { version } = JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as { version: string };

function cli(...args: string[]) {
  // A clean environment: no stray CEPH_MCS_* or LOG_LEVEL from the developer's shell.
  const r = spawnSync("./node_modules/.bin/node", ["agent/cli.ts", ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { PATH: process.env.PATH },
    timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

for (const args of [["--version"], ["-v"], ["version"]]) {
  test(`${args.join(" ")} prints the version from package.json`, () => {
    const r = cli(...args);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `ceph-mcs-agent ${version}\n`);
    assert.equal(r.stderr, "");
  });
}

test("--help prints one line per mode, the env pointer and exit codes on stdout", () => {
  const r = cli("--help");
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  assert.match(r.stdout, /^Usage: ceph-mcs-agent <mode> \[options\]/);
  for (const mode of ["init", "controller", "status", "version"])
    assert.match(r.stdout, new RegExp(`^  ${mode} +\\S`, "m"));
  assert.match(r.stdout, /POD_NAME, POD_NAMESPACE, POD_IP required/);
  assert.match(r.stdout, /README\.md/);
  assert.match(r.stdout, /2 misconfigured/);
});

for (const [args, message] of [
  [["bogus"], 'unknown mode "bogus"'],
  [["--bogus"], "Unknown option '--bogus'"],
  [[], "no mode given"],
  [["version", "extra"], 'unexpected argument "extra"'],
] as const) {
  test(`usage error: ${args.join(" ") || "(no args)"} → usage on stderr, exit 2`, () => {
    const r = cli(...args);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.ok(r.stderr.includes(message), r.stderr);
    assert.match(r.stderr, /Usage: ceph-mcs-agent/);
  });
}

for (const [mode, missing] of [
  ["controller", "POD_NAME is not set"],
  ["status", "POD_NAMESPACE is not set"],
] as const) {
  test(`${mode} without its environment: exit 2, says which variable is missing`, () => {
    const r = cli(mode);
    assert.equal(r.code, 2);
    const line = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as { msg?: string; level?: string };
    assert.equal(line.level, "fatal");
    assert.ok(line.msg?.includes(missing), line.msg);
  });
}
