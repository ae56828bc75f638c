// A watch as an async iterable that survives client-node's 30 s inactivity timeout and 410 Gone:
// it reconnects from the last resourceVersion, re-reading the object when that version is too old.
import { setTimeout as sleep } from "node:timers/promises";
import { Watch, type KubeConfig } from "@kubernetes/client-node";
import { AgentError } from "../errors.ts";

const RECONNECT_MIN_MS = 200;
const RECONNECT_MAX_MS = 5000;

export interface WatchTarget<T> {
  kc: KubeConfig;
  path: string;
  query: Record<string, string | number | boolean>;
  /** Reads the current object (undefined = absent) with its resourceVersion, after a 410. */
  relist: () => Promise<{ item: T | undefined; resourceVersion: string }>;
  convert: (obj: unknown) => T;
  onConnect?: () => void;
}

type Event<T> = { kind: "item"; item: T | undefined } | { kind: "end"; err: unknown };

export async function* watchObject<T>(
  target: WatchTarget<T>,
  resourceVersion: string,
  signal: AbortSignal,
): AsyncGenerator<T | undefined> {
  let rv = resourceVersion;
  let backoff = RECONNECT_MIN_MS;
  while (!signal.aborted) {
    const queue = yield* oneStream(target, rv, signal);
    if (refused(queue.error)) throw refusal(queue.error, target.path);
    rv = queue.lastRv || rv;
    backoff = queue.delivered > 0 ? RECONNECT_MIN_MS : Math.min(backoff * 2, RECONNECT_MAX_MS);
    // A stream that ends without news (apiserver restart, network) is retried with growing pauses.
    await sleep(backoff, undefined, { signal }).catch(() => undefined);
    if (queue.gone && !aborted(signal)) {
      const fresh = await target.relist();
      rv = fresh.resourceVersion;
      yield fresh.item;
    }
  }
}

/** One watch connection: yields its objects, returns how it ended. */
async function* oneStream<T>(
  target: WatchTarget<T>,
  rv: string,
  signal: AbortSignal,
): AsyncGenerator<T | undefined, EventQueue<Event<T>>> {
  const queue = new EventQueue<Event<T>>();
  const ctl = await connect(target, rv, queue).catch(() => undefined);
  const stop = (): void => ctl?.abort();
  signal.addEventListener("abort", stop, { once: true });
  try {
    for (let ev = ctl && (await queue.next(signal)); ev?.kind === "item"; ev = await queue.next(signal)) {
      queue.delivered++;
      yield ev.item;
    }
  } finally {
    signal.removeEventListener("abort", stop);
    ctl?.abort();
  }
  return queue;
}

async function connect<T>(
  target: WatchTarget<T>,
  rv: string,
  queue: EventQueue<Event<T>>,
): Promise<AbortController> {
  target.onConnect?.();
  const query = { ...target.query, resourceVersion: rv, allowWatchBookmarks: true };
  return new Watch(target.kc).watch(
    target.path,
    query,
    (phase, obj: { metadata?: { resourceVersion?: string }; code?: number }) => {
      if (phase === "ERROR") {
        queue.gone = obj.code === 410;
        queue.push({ kind: "end", err: obj });
        return;
      }
      queue.lastRv = obj.metadata?.resourceVersion ?? queue.lastRv;
      if (phase === "BOOKMARK") return;
      queue.push({ kind: "item", item: phase === "DELETED" ? undefined : target.convert(obj) });
    },
    (err: unknown) => {
      queue.error = err;
      queue.push({ kind: "end", err });
    },
  );
}

/** A one-consumer queue bridging watch callbacks to the async iterator. */
class EventQueue<E> {
  private readonly items: E[] = [];
  private waiter: ((e: E | undefined) => void) | undefined;
  gone = false;
  delivered = 0;
  /** Why the stream ended, if it ended with an error. */
  error: unknown = undefined;
  /** The newest resourceVersion seen (objects and bookmarks), to resume from. */
  lastRv = "";

  push(e: E): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w) w(e);
    else this.items.push(e);
  }

  next(signal: AbortSignal): Promise<E | undefined> {
    const first = this.items.shift();
    if (first !== undefined || signal.aborted) return Promise.resolve(first);
    return new Promise((resolve) => {
      this.waiter = resolve;
      signal.addEventListener("abort", () => resolve(undefined), { once: true });
    });
  }
}

// A function call, so the compiler does not assume the signal's state is unchanged since the loop test.
function aborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

// A watch the apiserver refuses (401/403/404/400…) will be refused again: not worth a reconnect.
function refused(err: unknown): err is Error {
  const status = (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof status === "number" && status >= 400 && status < 500 && status !== 410 && status !== 429;
}

function refusal(err: Error & { statusCode?: number }, path: string): AgentError {
  const forbidden = err.statusCode === 403;
  // client-node's watch reports only the status line; say in the apiserver's words what was denied.
  const m = /^\/apis?\/(?:([^/]+)\/)?[^/]+\/namespaces\/([^/]+)\/([^/]+)$/.exec(path);
  const what = m
    ? `cannot watch resource "${m[3] ?? ""}" in API group "${m[1] ?? ""}" in the namespace "${m[2] ?? ""}"`
    : path;
  return new AgentError(
    "permanent",
    `the API server refused the watch (${err.statusCode ?? ""} ${err.message}): ${what}`,
    {
      object: `WATCH ${path}`,
      hint: forbidden
        ? "grant the agent's ServiceAccount watch on this resource (the Role in manifests/)"
        : undefined,
      cause: err,
    },
  );
}
