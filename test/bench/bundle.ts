// Builds dist/ceph-mcs-agent.mjs exactly as `npm run build` does, and tells what the bundle is made
// of: an esbuild metafile of the same entry with the same size-relevant options (analysis only,
// nothing written), summed per npm package.
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { build } from "esbuild";
import { ROOT } from "../harness/controlplane.ts";
import { NODE } from "../harness/scenario.ts";
import { DIST, agentArgv } from "./agent.ts";
import { runProc } from "./proc.ts";

export interface BundleInfo {
  bytes: number;
  /** [package, bytes in the output], largest first; "agent" is this project's code. */
  byPackage: [string, number][];
  /** V8 CPU profile of `node dist/ceph-mcs-agent.mjs --version`: sampled ms, and ms in module compilation. */
  versionProfile: { totalMs: number; compileMs: number };
}

export async function buildBundle(tmp: string): Promise<BundleInfo> {
  const run = await runProc([NODE, join(ROOT, "scripts/bundle.ts")], {
    env: { PATH: process.env.PATH ?? "" },
    tmp,
  });
  if (run.code !== 0) throw new Error(`npm run build failed: ${run.stderr}`);
  return {
    bytes: (await stat(DIST)).size,
    byPackage: await composition(),
    versionProfile: await profileVersion(tmp),
  };
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string } }[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time of V8's ESM compilation (compileSourceTextModule) in one `--version` run. */
async function profileVersion(tmp: string): Promise<{ totalMs: number; compileMs: number }> {
  const dir = join(tmp, "cpu-profile");
  await mkdir(dir, { recursive: true });
  const [node, ...rest] = agentArgv("bundled", "--version");
  await runProc([node!, "--cpu-prof", `--cpu-prof-dir=${dir}`, ...rest], {
    env: { PATH: process.env.PATH ?? "" },
    tmp,
  });
  const file = (await readdir(dir)).find((f) => f.endsWith(".cpuprofile"));
  const profile = JSON.parse(await readFile(join(dir, file ?? "missing"), "utf8")) as CpuProfile;
  await rm(dir, { recursive: true, force: true });
  const compiling = new Set(
    profile.nodes.filter((n) => n.callFrame.functionName === "compileSourceTextModule").map((n) => n.id),
  );
  let totalUs = 0;
  let compileUs = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    totalUs += dt;
    if (compiling.has(id)) compileUs += dt;
  });
  return { totalMs: totalUs / 1000, compileMs: compileUs / 1000 };
}

async function composition(): Promise<[string, number][]> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: ["agent/cli.ts"],
    outfile: "composition.mjs",
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node22",
    minify: true,
    write: false,
    metafile: true,
    logLevel: "silent",
  });
  const sizes = new Map<string, number>();
  for (const out of Object.values(result.metafile.outputs)) {
    for (const [path, input] of Object.entries(out.inputs)) {
      const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? "agent";
      sizes.set(pkg, (sizes.get(pkg) ?? 0) + input.bytesInOutput);
    }
  }
  return [...sizes].sort((a, b) => b[1] - a[1]);
}
