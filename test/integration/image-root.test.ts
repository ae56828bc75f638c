// What can be proven of the images without a Docker engine: scripts/image-root.sh assembles their
// runtime files by the Dockerfiles' steps; here they run chrooted, as the images' users, on a read-only
// root (a private mount namespace), with an empty environment. The agent image serves the webhook to the
// real apiserver; the Ceph image runs the ceph CLI and the agent. Needs root (chroot, mounts).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { ROOT, sharedControlPlane, type ControlPlane } from "../harness/controlplane.ts";
import { freePort } from "../harness/processes.ts";
import {
  makeCerts,
  serviceAccountWithClusterRole,
  shippedWebhookRole,
  type Certs,
} from "../harness/webhook.ts";

const isRoot = process.getuid?.() === 0;
// The images' PATH (the Ceph base image has /usr/local/bin on it).
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const skip = isRoot ? false : "needs root (chroot and mounts)";

function build(what: "agent" | "ceph"): string {
  const r = spawnSync("bash", [join(ROOT, "scripts/image-root.sh"), what], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/** A shell line that runs `argv` in `root`, read-only, as `user`, with bind mounts (host → inside). */
function chrooted(
  root: string,
  user: string,
  argv: readonly string[],
  binds: [string, string][] = [],
): string[] {
  const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;
  const mounts = [
    `mount --bind ${q(root)} ${q(root)}`,
    ...binds.map(([from, to]) => `mount --bind -o ro ${q(from)} ${q(join(root, to))}`),
    `mount -o remount,bind,ro ${q(root)}`,
    `mount -t proc proc ${q(join(root, "proc"))}`,
  ];
  const run = `exec chroot --userspec=${user} ${q(root)} ${argv.map(q).join(" ")}`;
  return ["unshare", "--mount", "--propagation", "private", "sh", "-c", [...mounts, run].join(" && ")];
}

function runIn(root: string, user: string, argv: readonly string[], env: Record<string, string> = {}) {
  const [cmd, ...args] = chrooted(root, user, argv);
  return spawnSync(cmd!, args, { encoding: "utf8", env: { PATH: PATH, ...env } });
}

/** As in a pod: a token file and the cluster CA, not a kubeconfig with host paths. */
function serviceAccountFolder(kubeconfig: string, dir: string, ns: string, caCert?: string): string {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  spawnSync("mkdir", ["-p", dir]);
  writeFileSync(join(dir, "token"), kc.getCurrentUser()?.token ?? "");
  writeFileSync(join(dir, "ca.crt"), readFileSync(caCert ?? kc.getCurrentCluster()?.caFile ?? ""));
  writeFileSync(join(dir, "namespace"), ns);
  return dir;
}

describe("images, as root folders", { skip }, () => {
  let cp: ControlPlane;
  let certs: Certs;
  let agentRoot = "";
  let ns = "";
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    cp = await sharedControlPlane();
    certs = await makeCerts();
    cleanups.push(() => certs.cleanup());
    agentRoot = build("agent");
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  test("agent image: only the runtime files, and it runs as 65532 on a read-only root", () => {
    const r = runIn(agentRoot, "65532:65532", ["/nodejs/bin/node", "/app/ceph-mcs-agent.mjs", "version"]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^ceph-mcs-agent \d+\.\d+\.\d+\n$/);
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    assert.match(dockerfile, /COPY --from=build \/src\/dist\/ceph-mcs-agent\.mjs \/app\/ceph-mcs-agent\.mjs/);
    assert.match(dockerfile, /ENTRYPOINT \["\/nodejs\/bin\/node", "\/app\/ceph-mcs-agent\.mjs"\]/);
    assert.match(dockerfile, /USER 65532:65532/);
    const noShell = runIn(agentRoot, "65532:65532", ["/bin/sh", "-c", "true"]);
    assert.notEqual(noShell.status, 0, "no shell in the image");
  });

  test("agent image: the webhook serves the real apiserver from the read-only root", async () => {
    ns = await cp.newNamespace("image-root");
    const sa = await serviceAccountWithClusterRole(cp, ns, "webhook", await shippedWebhookRole(cp));
    cleanups.push(sa.cleanup);
    const tokenDir = serviceAccountFolder(sa.kubeconfig, join(certs.dir, "sa"), ns);
    const [port, httpPort] = [await freePort(), await freePort()];
    const url = new URL(cp.server);
    const env = {
      KUBERNETES_SERVICE_HOST: url.hostname,
      KUBERNETES_SERVICE_PORT: url.port,
      CEPH_MCS_WEBHOOK_IMAGE: "ceph-mcs-agent:0.1.0",
      CEPH_MCS_WEBHOOK_LISTEN: `127.0.0.1:${port}`,
      CEPH_MCS_LISTEN: `127.0.0.1:${httpPort}`,
    };
    const [cmd, ...args] = chrooted(
      agentRoot,
      "65532:65532",
      ["/nodejs/bin/node", "/app/ceph-mcs-agent.mjs", "webhook"],
      [
        [certs.tlsDir, "etc/ceph-mcs-agent/tls"],
        [tokenDir, "var/run/secrets/kubernetes.io/serviceaccount"],
      ],
    );
    const proc = spawn("setpriv", ["--pdeathsig", "KILL", "--", cmd!, ...args], {
      env: { PATH: PATH, ...env },
    });
    let logs = "";
    proc.stdout.on("data", (c: Buffer) => (logs += c.toString()));
    proc.stderr.on("data", (c: Buffer) => (logs += c.toString()));
    const exited = new Promise((resolve) => proc.once("exit", resolve));
    try {
      let status = 0;
      for (let i = 0; i < 300 && status !== 200 && proc.exitCode === null; i++) {
        status = await fetch(`http://127.0.0.1:${httpPort}/readyz`).then(
          (r) => r.status,
          () => 0,
        );
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(status, 200, logs);
      assert.match(logs, /"msg":"admission webhook serving"/);
      assert.doesNotMatch(logs, /"level":"(error|fatal)"/, logs);
    } finally {
      proc.kill("SIGTERM");
      await exited;
      await cp
        .admin()
        .makeApiClient(CoreV1Api)
        .deleteNamespace({ name: ns })
        .catch(() => undefined);
    }
    assert.match(logs, /"msg":"stopping: no new admissions/);
  });

  // The Ceph root takes minutes to build (debootstrap); it is shared with the e2e tests, which build it.
  const cephRoot = join(process.env.CEPH_MCS_CACHE ?? join(ROOT, ".cache"), "ceph-root", "usr/bin/ceph");
  const noCeph = existsSync(cephRoot)
    ? false
    : "no Ceph root yet: bash scripts/build-ceph-root.sh (the e2e builds it)";
  test("Ceph image: the ceph CLI and the agent run as the ceph user (167)", { skip: noCeph }, () => {
    const cephRoot = build("ceph");
    const ceph = runIn(cephRoot, "167:167", ["ceph", "--version"]);
    assert.equal(ceph.status, 0, ceph.stderr);
    assert.match(ceph.stdout, /ceph version 1[89]\./);
    const agent = runIn(cephRoot, "167:167", ["ceph-mcs-agent", "version"]);
    assert.equal(agent.status, 0, agent.stderr);
    assert.match(agent.stdout, /^ceph-mcs-agent /);
  });
});
