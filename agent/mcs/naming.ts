// Names of the per-daemon objects and the clusterset DNS name, plus validators that return a problem
// string (or undefined) so config code can collect every problem before failing.
import type { DaemonRef } from "../ports.ts";

/** Default clusterset DNS zone (KEP-1645 fixes it; configurable for odd set-ups). */
export const DEFAULT_ZONE = "clusterset.local";

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const MAX_LABEL = 63;
const MAX_NAME = 253;
const MON_ID = /^[a-z]+$/;
const OSD_ID = /^(0|[1-9][0-9]*)$/;
// Ceph OSD ids are signed 32-bit integers.
const MAX_OSD_ID = 2 ** 31 - 1;

/** The Service (and ServiceExport) name Rook uses for a daemon: `rook-ceph-mon-a`, `rook-ceph-osd-3`. */
export function serviceName(daemon: DaemonRef): string {
  return `rook-ceph-${daemon.type}-${daemon.id}`;
}

/** Absolute cluster-specific name `<clusterID>.<svc>.<ns>.svc.<zone>.` (the trailing dot stops search-list expansion). */
export function clustersetName(
  clusterID: string,
  service: string,
  namespace: string,
  zone = DEFAULT_ZONE,
): string {
  return `${clusterID}.${service}.${namespace}.svc.${stripDot(zone)}.`;
}

function stripDot(name: string): string {
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/** Problem with a label (RFC 1123: lowercase alphanumerics and '-', ≤63), or undefined. */
function labelProblem(label: string): string | undefined {
  if (label.length === 0) return "is empty";
  if (label.length > MAX_LABEL) return `is ${label.length} characters long (at most ${MAX_LABEL})`;
  if (!LABEL.test(label)) {
    return "must consist of lowercase letters, digits and '-', and start and end with a letter or digit";
  }
  return undefined;
}

/** The MCS cluster ID (Submariner `--clusterid`) must be one DNS label: it is the first label of the query name. */
export function validateClusterID(clusterID: string): string | undefined {
  const problem = labelProblem(clusterID);
  if (problem === undefined) return undefined;
  return `cluster ID ${JSON.stringify(clusterID)} ${problem}; use the cluster ID the MCS implementation was joined with (e.g. \`subctl show connections\`)`;
}

/** The clusterset zone must be a DNS name of RFC 1123 labels; a trailing dot is allowed. */
export function validateZone(zone: string): string | undefined {
  const name = stripDot(zone);
  if (name.length > MAX_NAME) return `zone ${JSON.stringify(zone)} is longer than ${MAX_NAME} characters`;
  const labels = name.split(".");
  for (const [i, label] of labels.entries()) {
    const problem = labelProblem(label);
    if (problem !== undefined)
      return `zone ${JSON.stringify(zone)}: label ${i + 1} ${JSON.stringify(label)} ${problem}`;
  }
  return undefined;
}

/** Rook's daemon ids: mons `a`…`z`, `aa`…; OSDs non-negative integers without leading zeros. */
export function validateDaemonId(daemon: DaemonRef): string | undefined {
  const what = `${daemon.type} id ${JSON.stringify(daemon.id)}`;
  if (daemon.type === "mon") {
    if (!MON_ID.test(daemon.id))
      return `${what} is not a Rook mon id (lowercase letters: a, b, …, aa, ab, …)`;
  } else if (!OSD_ID.test(daemon.id) || Number(daemon.id) > MAX_OSD_ID) {
    return `${what} is not a Ceph OSD id (a non-negative integer without leading zeros)`;
  }
  const service = serviceName(daemon);
  if (service.length > MAX_LABEL) {
    return `${what} is too long: Service name ${service} exceeds ${MAX_LABEL} characters`;
  }
  return undefined;
}

/** A complete DNS name: ≤253 characters without the trailing dot, every label ≤63 and non-empty. */
export function validateDnsName(name: string): string | undefined {
  const bare = stripDot(name);
  if (bare.length > MAX_NAME) {
    return `DNS name ${name} is ${bare.length} characters long (at most ${MAX_NAME}); shorten the cluster ID, namespace or zone`;
  }
  const bad = bare.split(".").find((label) => label.length === 0 || label.length > MAX_LABEL);
  if (bad !== undefined) {
    return `DNS name ${name} has a label of ${bad.length} characters (each must be 1–${MAX_LABEL})`;
  }
  return undefined;
}
