// The serving certificate from a mounted kubernetes.io/tls Secret (tls.crt, tls.key). Kubernetes swaps
// a Secret volume's files atomically (a symlink flip), so a change is seen as a whole; it is noticed
// by fs.watch at once and by a slow poll in case the watch misses the flip.
import { createHash } from "node:crypto";
import { watch, type FSWatcher } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createSecureContext } from "node:tls";
import { AgentError } from "../errors.ts";

export interface TlsPair {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** sha256 of both, to tell a real change from a touch. */
  readonly digest: string;
}

/** Reads and checks the pair (the key must match the certificate); throws an AgentError naming the folder. */
export async function loadTls(dir: string): Promise<TlsPair> {
  let cert: Buffer, key: Buffer;
  try {
    [cert, key] = await Promise.all([readFile(join(dir, "tls.crt")), readFile(join(dir, "tls.key"))]);
  } catch (err) {
    throw new AgentError(
      "permanent",
      `cannot read the webhook's TLS certificate: ${(err as Error).message}`,
      {
        object: dir,
        hint: 'mount the webhook\'s kubernetes.io/tls Secret (keys tls.crt, tls.key) there: see README, "Certificates"',
        cause: err,
      },
    );
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    throw new AgentError(
      "permanent",
      `the webhook's TLS certificate and key do not fit: ${(err as Error).message}`,
      {
        object: dir,
        hint: "re-issue the Secret so tls.key belongs to tls.crt",
        cause: err,
      },
    );
  }
  const digest = createHash("sha256").update(cert).update(key).digest("hex");
  return { cert, key, digest };
}

export interface TlsWatcher {
  stop(): void;
}

/**
 * Calls `onChange` with each new valid pair; `onError` with a pair that cannot be used (the old one
 * stays in service). `pollMs` is the fallback period.
 */
export function watchTls(
  dir: string,
  current: TlsPair,
  handlers: { onChange: (pair: TlsPair) => void; onError: (err: unknown) => void },
  pollMs = 30_000,
): TlsWatcher {
  let digest = current.digest;
  let pending: NodeJS.Timeout | undefined;
  const check = async (): Promise<void> => {
    try {
      const pair = await loadTls(dir);
      if (pair.digest === digest) return;
      digest = pair.digest;
      handlers.onChange(pair);
    } catch (err) {
      handlers.onError(err);
    }
  };
  // A Secret update is several renames in a row: look once they have settled.
  const soon = (): void => {
    clearTimeout(pending);
    pending = setTimeout(() => void check(), 200);
  };
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, soon);
    watcher.on("error", () => undefined);
  } catch {
    watcher = undefined;
  }
  const poll = setInterval(() => void check(), pollMs);
  poll.unref();
  return {
    stop: () => {
      clearTimeout(pending);
      clearInterval(poll);
      watcher?.close();
    },
  };
}
