// Pure: what the mon addresses in Rook's ConfigMap and Secret should be, given what is known about each
// mon. A mon's address is its identity in the monmap, so the address written is the one the mon
// ADVERTISES (the monmap, when the ceph CLI is available), never merely the one it was given.
import {
  csiMonitor,
  formatMonEndpoints,
  formatMonHost,
  parseIdList,
  parseMonEndpoints,
  sameSet,
  splitMonHost,
  updateCsiMonitors,
  type MonEndpoint,
} from "../ceph/rook-formats.ts";

export const KEY_DATA = "data";
export const KEY_CSI = "csi-cluster-config-json";
export const KEY_OUT_OF_QUORUM = "outOfQuorum";
export const KEY_MON_HOST = "mon_host";

/** What is known about one mon besides Rook's ConfigMap. */
export interface MonFacts {
  /** The global IP pinned on its Service by init mode or the controller. */
  pinned?: string;
  /** Its Service's ClusterIP. */
  clusterIP?: string;
  /** The address in the monmap (what it advertises); undefined when the monmap is not readable. */
  advertised?: string;
}

export interface UpkeepInput {
  /** The cluster's namespace: the CSI clusterID. */
  namespace: string;
  /** ConfigMap `rook-ceph-mon-endpoints` `.data`. */
  endpoints: Readonly<Record<string, string>>;
  /** Secret `rook-ceph-config` `mon_host`, decoded; undefined when the key is missing. */
  monHost: string | undefined;
  mons: ReadonlyMap<string, MonFacts>;
  /** During a migration: the addresses (old and new) of each moving mon, all kept in client configs meanwhile. */
  clientExtras?: ReadonlyMap<string, readonly string[]>;
}

export interface AddressChange {
  id: string;
  from: string;
  to: string;
}

export interface HeldBack {
  id: string;
  current: string;
  pinned: string;
  /** Why the pin is not written. */
  reason: "needs-migration" | "unconfirmed";
}

export interface UpkeepPlan {
  /** Keys of the ConfigMap's data to set; undefined = nothing to write. */
  configMap: Record<string, string> | undefined;
  /** New `mon_host`; undefined = leave it. */
  monHost: string | undefined;
  changes: AddressChange[];
  heldBack: HeldBack[];
}

/** Where each mon's address comes from: the monmap first, then a pin that cannot be wrong. */
function targetAddress(m: MonEndpoint, facts: MonFacts | undefined): { ip: string; held?: HeldBack } {
  if (!facts) return { ip: m.ip };
  const { pinned, advertised, clusterIP } = facts;
  if (advertised !== undefined) {
    const held =
      pinned !== undefined && pinned !== advertised
        ? { id: m.id, current: advertised, pinned, reason: "needs-migration" as const }
        : undefined;
    return { ip: advertised, ...(held && { held }) };
  }
  if (pinned === undefined || pinned === m.ip) return { ip: m.ip };
  // Without the monmap, a mon still listed on its ClusterIP may be one that started before MCS was on
  // (then only a migration moves it) or a new one Rook listed by ClusterIP: not knowable, not guessed.
  if (m.ip === clusterIP)
    return { ip: m.ip, held: { id: m.id, current: m.ip, pinned, reason: "unconfirmed" } };
  return { ip: pinned };
}

export function planUpkeep(input: UpkeepInput): UpkeepPlan {
  const current = parseMonEndpoints(input.endpoints[KEY_DATA] ?? "");
  const changes: AddressChange[] = [];
  const heldBack: HeldBack[] = [];
  const next = current.map((m) => {
    const { ip, held } = targetAddress(m, input.mons.get(m.id));
    if (held) heldBack.push(held);
    if (ip !== m.ip) changes.push({ id: m.id, from: m.ip, to: ip });
    return { ...m, ip };
  });
  return {
    configMap: configMapWrites(input, next, changes.length > 0),
    monHost: monHostWrite(input, next),
    changes,
    heldBack,
  };
}

function configMapWrites(
  input: UpkeepInput,
  next: readonly MonEndpoint[],
  dataChanged: boolean,
): Record<string, string> | undefined {
  const writes: Record<string, string> = {};
  if (dataChanged) writes[KEY_DATA] = formatMonEndpoints(next);
  const csi = input.endpoints[KEY_CSI];
  const monitors = withExtras(next, input.clientExtras).map(csiMonitor);
  const csiNext = csi === undefined ? undefined : updateCsiMonitors(csi, input.namespace, monitors);
  if (csiNext !== undefined) writes[KEY_CSI] = csiNext;
  return Object.keys(writes).length > 0 ? writes : undefined;
}

function monHostWrite(input: UpkeepInput, next: readonly MonEndpoint[]): string | undefined {
  if (input.monHost === undefined) return undefined;
  const outOfQuorum = parseIdList(input.endpoints[KEY_OUT_OF_QUORUM]);
  const wanted = formatMonHost(withExtras(next, input.clientExtras), outOfQuorum);
  return sameSet(splitMonHost(wanted), splitMonHost(input.monHost)) ? undefined : wanted;
}

/** Each mon, followed by its other addresses while it moves (clients then reach it either way). */
function withExtras(
  mons: readonly MonEndpoint[],
  extras: ReadonlyMap<string, readonly string[]> | undefined,
): MonEndpoint[] {
  return mons.flatMap((m) => {
    const others = new Set(extras?.get(m.id)?.filter((ip) => ip !== m.ip));
    return [m, ...[...others].map((ip) => ({ ...m, ip }))];
  });
}
