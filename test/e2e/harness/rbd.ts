// RBD and mirroring helpers over a Site, all run in the site's client pod (global-only):
//
//   await rbd(a, ["mirror", "pool", "enable", "--site-name", "site-a", "rbd", "image"]);
//   const token = decodeToken(await rbd(a, ["mirror", "pool", "peer", "bootstrap", "create", …]));
//   const sum = await imageMd5(a, "img1");                      // md5 of `rbd export` (streamed in the pod)
//   const t = await waitSameImage(a, b, "img1", 300_000);       // until B's export equals A's
//   await mirrorStatus(b, "img1")                               // `rbd mirror image status` JSON
import { waitFor } from "./ceph.ts";
import { cmd } from "./host.ts";
import type { Site } from "./site.ts";

export interface BootstrapToken {
  fsid: string;
  client_id: string;
  key: string;
  mon_host: string;
}

export interface MirrorImageStatus {
  name: string;
  state: string;
  description: string;
  daemon_service?: { hostname?: string };
  peer_sites?: { site_name: string; state: string; description: string }[];
}

/** `rbd -c <conf> …` in the site's client pod; stdout. */
export async function rbd(site: Site, args: readonly string[], timeoutMs = 300_000): Promise<string> {
  return site.ceph.tool(site.cli, ["rbd", ...args], timeoutMs);
}

/** Runs a shell script in the site's client pod (CEPH_CONF set). */
export async function podSh(site: Site, script: string, timeoutMs = 300_000): Promise<string> {
  const argv = site.w.rt.podArgv(site.cli, ["sh", "-c", script], { env: { CEPH_CONF: site.ceph.conf } });
  return (await cmd(argv, { timeoutMs })).stdout;
}

export function decodeToken(base64: string): BootstrapToken {
  return JSON.parse(Buffer.from(base64.trim(), "base64").toString("utf8")) as BootstrapToken;
}

/** md5 of the image's full contents as `rbd export` streams them. */
export async function imageMd5(site: Site, image: string, pool = "rbd"): Promise<string> {
  const out = await podSh(site, `rbd export ${pool}/${image} - 2>/dev/null | md5sum`);
  const md5 = out.trim().split(/\s+/)[0] ?? "";
  // md5 of nothing: the export failed (dash has no pipefail).
  if (md5 === "d41d8cd98f00b204e9800998ecf8427e")
    throw new Error(`rbd export ${pool}/${image} in cluster ${site.name} failed`);
  return md5;
}

/** Resolves once `dst`'s copy has the same md5 as `src`'s (read once, at the start). */
export async function waitSameImage(
  src: Site,
  dst: Site,
  image: string,
  timeoutMs: number,
): Promise<{ md5: string; ms: number }> {
  const started = Date.now();
  const md5 = await imageMd5(src, image);
  let last = "";
  await waitFor(
    `image ${image} in cluster ${dst.name} to equal cluster ${src.name}'s (md5 ${md5})`,
    async () => {
      last = await imageMd5(dst, image).catch(() => "unreadable");
      return last === md5 ? true : undefined;
    },
    timeoutMs,
    1000,
  ).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}; last md5 in ${dst.name}: ${last}`);
  });
  return { md5, ms: Date.now() - started };
}

export async function mirrorStatus(site: Site, image: string, pool = "rbd"): Promise<MirrorImageStatus> {
  return JSON.parse(
    await rbd(site, ["mirror", "image", "status", `${pool}/${image}`, "--format", "json"], 60_000),
  ) as MirrorImageStatus;
}

/** `rbd info` JSON: size and whether this copy is primary. */
export async function imageInfo(site: Site, image: string, pool = "rbd") {
  return JSON.parse(await rbd(site, ["info", `${pool}/${image}`, "--format", "json"], 60_000)) as {
    size: number;
    mirroring?: { state: string; mode: string; primary: boolean };
  };
}
