// Golden files (Istio's model): every Rook-shaped pod in test/fixtures/rook-pods goes through the
// injection; its JSON patch and the patched pod must equal the stored goldens (REFRESH_GOLDEN=true
// rewrites them). A second pass over the result is a no-op, and every wrapped command really runs:
// the real wrapper under dash with stub daemons, $(VAR)s expanded as the kubelet does.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { V1Container, V1Pod } from "@kubernetes/client-node";
import { parse, stringify } from "yaml";
import {
  INIT_CONTAINER_NAME,
  STATUS_ANNOTATION,
  VOLUME_NAME,
  WRAPPER_PATH,
  applyPatch,
  planInjection,
  type InjectSettings,
  type PatchOp,
  type Plan,
} from "../../../agent/webhook/inject.ts";

export const FIXTURES = fileURLToPath(new URL("../../fixtures/rook-pods/", import.meta.url));
const GOLDEN = join(FIXTURES, "golden");
const WRAPPER = fileURLToPath(new URL("../../../images/ceph-mcs-exec", import.meta.url));
const REFRESH = process.env.REFRESH_GOLDEN === "true";

const SETTINGS: InjectSettings = {
  image: "registry.example/ceph-mcs-agent:0.1.0",
  pullPolicy: "IfNotPresent",
  version: "0.1.0",
  forceEnabled: false,
};

const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith(".yaml"))
  .sort();
const load = (f: string): V1Pod => parse(readFileSync(join(FIXTURES, f), "utf8")) as V1Pod;

/** Compares with a golden file, or (re)writes it under REFRESH_GOLDEN=true. */
function golden(name: string, actual: string): void {
  const path = join(GOLDEN, name);
  if (REFRESH) {
    mkdirSync(GOLDEN, { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  assert.ok(existsSync(path), `golden file ${name} is missing: run with REFRESH_GOLDEN=true`);
  assert.equal(
    actual,
    readFileSync(path, "utf8"),
    `differs from golden ${name} (REFRESH_GOLDEN=true to accept)`,
  );
}

const written = new Set<string>();

function opsOf(plan: Plan): PatchOp[] {
  if (plan.kind === "skip") assert.fail(`expected a patch, got skip: ${plan.message}`);
  return plan.ops;
}

describe("webhook injection: golden files", () => {
  for (const file of fixtures) {
    const base = file.replace(/\.yaml$/, "");
    test(file, () => {
      const pod = load(file);
      const plan = planInjection(pod, SETTINGS);
      if (plan.kind === "skip") {
        golden(`${base}.skip.txt`, `${plan.reason}: ${plan.message}\n`);
        written.add(`${base}.skip.txt`);
        return;
      }
      golden(`${base}.patch.json`, `${JSON.stringify(plan.ops, null, 2)}\n`);
      const injected = applyPatch(pod, plan.ops);
      golden(`${base}.injected.yaml`, stringify(injected, { lineWidth: 0 }));
      written.add(`${base}.patch.json`).add(`${base}.injected.yaml`);
      // Idempotent: the injected pod needs nothing more.
      assert.deepEqual(opsOf(planInjection(injected, SETTINGS)), [], "a second pass changes nothing");
    });
  }

  test("no golden file is left over from a removed fixture", { skip: REFRESH }, () => {
    const unused = readdirSync(GOLDEN).filter((f) => !written.has(f));
    assert.deepEqual(unused, [], "remove these golden files (their fixture is gone)");
  });
});

describe("webhook injection: the pod contract", () => {
  const injected = (file: string, settings = SETTINGS): V1Pod => {
    return applyPatch(load(file), opsOf(planInjection(load(file), settings)));
  };

  test("the agent's init container is first, so it runs before init-mon-fs", () => {
    const names = (injected("mon-a.yaml").spec?.initContainers ?? []).map((c) => c.name);
    assert.deepEqual(names, [INIT_CONTAINER_NAME, "chown-container-data-dir", "init-mon-fs"]);
  });

  test("init-mon-fs and mon are wrapped, chown is not; OSD: only the osd container", () => {
    const wrapped = (pod: V1Pod): string[] =>
      [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]
        .filter((c) => c.command?.includes(WRAPPER_PATH))
        .map((c) => c.name);
    assert.deepEqual(wrapped(injected("mon-a.yaml")), ["init-mon-fs", "mon"]);
    assert.deepEqual(wrapped(injected("osd-3-pvc.yaml")), ["osd"]);
    assert.deepEqual(injected("osd-3-pvc.yaml").spec?.containers[0]?.command, [WRAPPER_PATH, "/rook/rook"]);
    assert.deepEqual(injected("osd-4-flapping.yaml").spec?.containers[0]?.command?.slice(4), [
      "--",
      WRAPPER_PATH,
      "ceph-osd",
    ]);
  });

  test("init env comes from the Downward API; namespace opt-in also says MCS is on", () => {
    const init = (pod: V1Pod): V1Container => pod.spec!.initContainers![0]!;
    const env = init(injected("mon-a.yaml")).env ?? [];
    const refs = Object.fromEntries(env.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath ?? e.value]));
    assert.deepEqual(refs, {
      POD_NAME: "metadata.name",
      POD_NAMESPACE: "metadata.namespace",
      POD_UID: "metadata.uid",
      POD_IP: "status.podIP",
      NODE_NAME: "spec.nodeName",
      CEPH_MCS_DAEMON_TYPE: "metadata.labels['ceph_daemon_type']",
      CEPH_MCS_DAEMON_ID: "metadata.labels['ceph_daemon_id']",
      CEPH_MCS_DIR: "/run/ceph-mcs",
    });
    const forced = init(injected("mon-a.yaml", { ...SETTINGS, forceEnabled: true })).env ?? [];
    assert.deepEqual(forced.at(-1), { name: "CEPH_MCS_ENABLED", value: "true" });
  });

  test("a pod that has the init container after init-mon-fs gets it moved first, nothing else", () => {
    const pod = injected("mon-a.yaml");
    const inits = pod.spec!.initContainers!;
    pod.spec!.initContainers = [...inits.slice(1), inits[0]!];
    assert.deepEqual(opsOf(planInjection(pod, SETTINGS)), [
      { op: "move", from: "/spec/initContainers/2", path: "/spec/initContainers/0" },
    ]);
  });

  test("the status annotation records version, init container, volume and wrapped containers", () => {
    const status = JSON.parse(
      injected("osd-0.yaml").metadata?.annotations?.[STATUS_ANNOTATION] ?? "{}",
    ) as unknown;
    assert.deepEqual(status, {
      version: "0.1.0",
      initContainer: INIT_CONTAINER_NAME,
      volume: VOLUME_NAME,
      wrapped: ["osd"],
    });
  });

  test("a mon pod whose daemon command was changed away from ceph-mon is not injected", () => {
    const pod = load("mon-a.yaml");
    pod.spec!.containers[0]!.command = ["/usr/local/bin/run-mon.sh"];
    const plan = planInjection(pod, SETTINGS);
    assert.equal(plan.kind === "skip" && plan.reason, "no-daemon-container");
  });

  test("an opted-out pod label wins", () => {
    const pod = load("osd-0.yaml");
    pod.metadata!.labels!["ceph-mcs-agent.io/inject"] = "disabled";
    const plan = planInjection(pod, SETTINGS);
    assert.equal(plan.kind === "skip" && plan.reason, "opted-out");
  });
});

// ---------------------------------------------------------------------------------------------
// The wrapped commands, run as the kubelet would exec them.

const STUB = `#!/bin/sh
printf '%s\\n' "\${0##*/}"
for a in "$@"; do printf '%s\\n' "$a"; done
`;
const POD_IP = "10.244.0.10";
const GLOBAL = "242.1.255.7";
let root = "";

before(() => {
  root = mkdtempSync(join(tmpdir(), "ceph-mcs-inject-"));
  mkdirSync(join(root, "bin"));
  for (const name of ["ceph-mon", "ceph-osd", "rook"])
    writeFileSync(join(root, "bin", name), STUB, { mode: 0o755 });
});
after(() => rmSync(root, { recursive: true, force: true }));

/** The container's env as the kubelet would set it (field refs with made-up values). */
function containerEnv(c: V1Container): Record<string, string> {
  const fake: Record<string, string> = {
    "status.podIP": POD_IP,
    "metadata.name": "rook-ceph-x",
    "spec.nodeName": "node-1",
  };
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) env[e.name] = e.value ?? fake[e.valueFrom?.fieldRef?.fieldPath ?? ""] ?? "x";
  return env;
}

/** command + args with $(VAR) expanded, the wrapper and daemon binaries pointed at the test's copies. */
function execArgv(c: V1Container, env: Record<string, string>): string[] {
  const expand = (s: string): string =>
    s.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, v: string) => env[v] ?? m);
  const argv = [...(c.command ?? []), ...(c.args ?? [])].map(expand);
  return argv.map((a) => (a === WRAPPER_PATH ? WRAPPER : a === "/rook/rook" ? join(root, "bin", "rook") : a));
}

function runWrapped(c: V1Container, msgr2Only: boolean): string[] {
  const dir = mkdtempSync(join(root, "run-"));
  writeFileSync(join(dir, "public-addr"), `${GLOBAL}\n`);
  if (msgr2Only) writeFileSync(join(dir, "msgr2-only"), "true\n");
  const env = { ...containerEnv(c), CEPH_MCS_DIR: dir, PATH: `${join(root, "bin")}:/usr/bin:/bin` };
  const [cmd, ...args] = execArgv(c, env);
  const r = spawnSync(cmd!, args, { env, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.replace(/\n$/, "").split("\n");
}

describe("webhook injection: the wrapped commands run", () => {
  const cases: [string, string, boolean, string[]][] = [
    ["mon-a.yaml", "init-mon-fs", false, [`--public-addr=${GLOBAL}`, `--public-bind-addr=${POD_IP}`]],
    ["mon-a.yaml", "mon", false, [`--public-addr=${GLOBAL}`, `--public-bind-addr=${POD_IP}`]],
    [
      "mon-b-msgr2.yaml",
      "mon",
      true,
      [`--public-addr=${GLOBAL}:3300`, `--public-bind-addr=${POD_IP}:3300`, "--ms-bind-msgr1=false"],
    ],
    [
      "osd-0.yaml",
      "osd",
      false,
      [`--public-addr=${GLOBAL}`, `--public-bind-addr=${POD_IP}`, `--cluster-addr=${POD_IP}`],
    ],
    [
      "osd-3-pvc.yaml",
      "osd",
      false,
      [`--public-addr=${GLOBAL}`, `--public-bind-addr=${POD_IP}`, `--cluster-addr=${POD_IP}`],
    ],
    [
      "osd-4-flapping.yaml",
      "osd",
      false,
      [`--public-addr=${GLOBAL}`, `--public-bind-addr=${POD_IP}`, `--cluster-addr=${POD_IP}`],
    ],
  ];
  for (const [file, name, msgr2, tail] of cases) {
    test(`${file} ${name}`, () => {
      const pod = applyPatch(load(file), opsOf(planInjection(load(file), SETTINGS)));
      const c = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find(
        (x) => x.name === name,
      );
      assert.ok(c, `container ${name}`);
      const argv = runWrapped(c, msgr2);
      assert.deepEqual(argv.slice(-tail.length), tail);
      const addrFlags = argv.filter((a) => /^--(public|cluster)-(bind-)?addr/.test(a));
      assert.deepEqual(
        addrFlags,
        tail.filter((a) => a.startsWith("--p") || a.startsWith("--c")),
        "Rook's own address flags are gone",
      );
      if (file === "osd-3-pvc.yaml")
        assert.deepEqual(argv.slice(0, 5), ["rook", "ceph", "osd", "start", "--"]);
    });
  }
});
