// The monmap through the ceph CLI: what each mon advertises, by mon id (its v2 address, else the first).
import type { CephPort } from "../ceph/monmap.ts";
import type { MonmapPort } from "./reconcile.ts";

export function cephMonmap(ceph: CephPort): MonmapPort {
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
