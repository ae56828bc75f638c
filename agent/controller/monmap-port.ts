// The monmap through the real ceph CLI: what each mon advertises, by mon id.
import { CephCli } from "../ceph/cli.ts";
import type { MonmapPort } from "./reconcile.ts";

export function cephMonmap(argv: readonly string[], timeoutMs: number): MonmapPort {
  const ceph = new CephCli({ argv, callTimeoutMs: timeoutMs });
  return {
    async monAddresses(signal) {
      const map = await ceph.monDump(undefined, signal);
      const out = new Map<string, string>();
      for (const m of map.mons) {
        const addr = m.addrs.find((a) => a.type === "v2") ?? m.addrs[0];
        if (addr) out.set(m.name, addr.ip);
      }
      return out;
    },
  };
}
