// CephPort over the real `ceph` CLI. The command line is a configurable argv prefix, e.g. ["ceph",
// "-c", "/etc/ceph/ceph.conf"] or ["ip", "netns", "exec", "x", "chroot", "/root", "ceph"]; no shell.
// Every call gets `--connect-timeout`, `--format json` and a hard timeout (SIGKILL), and honours the
// caller's AbortSignal. Failures become AgentErrors that say which command failed and what to do.
import { execFile } from "node:child_process";
import { AgentError, type ErrorKind } from "../errors.ts";
import type { Logger } from "../log.ts";
import {
  formatAddrvec,
  parseJson,
  parseMonMap,
  parseMonStatus,
  parseQuorumStatus,
  type AddrVec,
  type CephPort,
  type MonMap,
  type MonStatus,
  type QuorumStatus,
} from "./monmap.ts";

export interface CephCliOptions {
  /** The command up to (and including) `ceph` and its connection flags (`-c`, `--id`, `--keyring`). */
  argv: readonly string[];
  /** `--connect-timeout`: also bounds each mon command of the CLI. Default 10 s. */
  connectTimeoutSeconds?: number;
  /** The process is killed after this. Default 30 s (a little more than the connect timeout matters). */
  callTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  log?: Logger;
  /**
   * Asked before every call: the mons to dial (`--mon-host`, after argv, so it wins over one there).
   * Mons move (a migration, Rook's failovers): the address list given at start goes stale.
   */
  monHost?: () => string | undefined;
}

/** What a failed run looked like; classified by classifyCephFailure(). */
export interface CephFailure {
  /** Exit status, undefined when killed by a signal or never started. */
  exitCode: number | undefined;
  signal: string | undefined;
  stderr: string;
  /** The spawn error code (`ENOENT`, `EACCES`) when the program could not be started. */
  spawnCode: string | undefined;
  timedOut: boolean;
}

// librados prints its own debug lines (`2026-… 7f… 0 --2- … send_auth_request …`) on stderr; the
// CLI's own message is the last line that is not one of them.
const LIBRADOS_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/;

/** The CLI's own last message on stderr, without librados' debug lines. */
export function cephMessage(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !LIBRADOS_LINE.test(l));
  return lines.at(-1) ?? "";
}

const RETRYABLE_ERRNO = new Set(["EAGAIN", "EBUSY", "EINTR", "ETIMEDOUT", "ECONNREFUSED", "ENOTCONN"]);
// `[errno 110] RADOS timed out (error connecting to the cluster)`, `timed out`, `[errno 111] …`
const CONNECT_RETRYABLE = /timed out|\[errno (?:110|111|4|11|16|107)\]/i;
const CONNECT_FAILED = /error connecting to the cluster|Error initializing cluster client/i;

interface Verdict {
  kind: ErrorKind;
  detail: string;
  hint: string;
}

const HINT_UNREACHABLE =
  "the mons may be electing a leader (seconds) or unreachable from here: check quorum and mon_host of the ceph command's config";
const HINT_AUTH =
  "check the ceph command's config, keyring and the client's caps (mon 'allow *' for set-addrs)";
const HINT_COMMAND =
  "the mons refused the command: read the message, fix the cause, then run the migration again";

function startFailure(f: CephFailure): Verdict | undefined {
  if (f.spawnCode !== undefined)
    return {
      kind: "permanent",
      detail: `cannot start the program (${f.spawnCode})`,
      hint: "install ceph-common or fix the configured ceph command",
    };
  if (f.timedOut)
    return { kind: "retryable", detail: "no answer before the deadline", hint: HINT_UNREACHABLE };
  if (f.exitCode === undefined)
    return { kind: "retryable", detail: `killed by ${f.signal ?? "a signal"}`, hint: HINT_UNREACHABLE };
  return undefined;
}

/** notFound / retryable / permanent, with the CLI's message and what to do. */
export function classifyCephFailure(f: CephFailure): Verdict {
  const early = startFailure(f);
  if (early) return early;
  const message = cephMessage(f.stderr) || `exit status ${String(f.exitCode)}`;
  const errno = /^Error (E[A-Z]+)\b/.exec(message)?.[1];
  if (errno === "ENOENT") return { kind: "notFound", detail: message, hint: HINT_COMMAND };
  if (errno !== undefined)
    return {
      kind: RETRYABLE_ERRNO.has(errno) ? "retryable" : "permanent",
      detail: message,
      hint: HINT_COMMAND,
    };
  if (CONNECT_RETRYABLE.test(message) || f.exitCode === 110)
    return { kind: "retryable", detail: message, hint: HINT_UNREACHABLE };
  if (CONNECT_FAILED.test(message)) return { kind: "permanent", detail: message, hint: HINT_AUTH };
  return { kind: "permanent", detail: message, hint: HINT_COMMAND };
}

interface RunResult {
  stdout: string;
  stderr: string;
}

export class CephCli implements CephPort {
  readonly #argv: readonly string[];
  readonly #connectTimeoutSeconds: number;
  readonly #callTimeoutMs: number;
  readonly #env: NodeJS.ProcessEnv | undefined;
  readonly #log: Logger | undefined;
  readonly #monHost: (() => string | undefined) | undefined;

  constructor(options: CephCliOptions) {
    if (options.argv.length === 0) {
      throw new AgentError("permanent", "the ceph command is empty", {
        hint: "configure the ceph CLI command, e.g. `ceph -c /etc/ceph/ceph.conf`",
      });
    }
    this.#argv = [...options.argv];
    this.#connectTimeoutSeconds = options.connectTimeoutSeconds ?? 10;
    this.#callTimeoutMs = options.callTimeoutMs ?? 30_000;
    this.#env = options.env;
    this.#log = options.log;
    this.#monHost = options.monHost;
  }

  async quorumStatus(signal: AbortSignal): Promise<QuorumStatus> {
    const { stdout } = await this.run(["quorum_status"], signal);
    return parseQuorumStatus(parseJson(stdout, "quorum_status output"));
  }

  async monStatus(id: string, signal: AbortSignal): Promise<MonStatus> {
    const { stdout } = await this.run(["tell", `mon.${id}`, "mon_status"], signal, `mon.${id}`);
    return parseMonStatus(parseJson(stdout, `mon.${id} mon_status output`));
  }

  async monDump(epoch: number | undefined, signal: AbortSignal): Promise<MonMap> {
    const args = epoch === undefined ? ["mon", "dump"] : ["mon", "dump", String(epoch)];
    const { stdout } = await this.run(args, signal);
    return parseMonMap(parseJson(stdout, "mon dump output"));
  }

  async setAddrs(id: string, addrs: AddrVec, via: AddrVec | undefined, signal: AbortSignal): Promise<void> {
    const target = via === undefined ? [] : ["-m", formatAddrvec(via)];
    await this.run([...target, "mon", "set-addrs", id, formatAddrvec(addrs)], signal, `mon.${id}`);
  }

  /** Runs `<argv> <args> --connect-timeout N --format json`; stdout on exit 0, an AgentError otherwise. */
  async run(args: readonly string[], signal: AbortSignal, object = "ceph cluster"): Promise<RunResult> {
    signal.throwIfAborted();
    const monHost = this.#monHost?.();
    const dial = monHost ? ["--mon-host", monHost] : [];
    const full = [...this.#argv, ...dial, ...args, "--connect-timeout", String(this.#connectTimeoutSeconds)];
    full.push("--format", "json");
    const started = Date.now();
    const deadline = AbortSignal.timeout(this.#callTimeoutMs);
    try {
      const out = await this.#spawn(full, AbortSignal.any([signal, deadline]));
      this.#log?.debug({ args, ms: Date.now() - started }, "ceph command done");
      return out;
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      throw this.#failure(args, object, toFailure(err, deadline.aborted));
    }
  }

  #failure(args: readonly string[], object: string, f: CephFailure): AgentError {
    const v = classifyCephFailure(f);
    const exit = f.exitCode === undefined ? "" : ` (exit ${f.exitCode})`;
    const timeout = f.timedOut ? ` within ${this.#callTimeoutMs} ms` : "";
    const message = `ceph ${args.join(" ")} failed${exit}${timeout}: ${v.detail}`;
    this.#log?.debug({ args, kind: v.kind, stderr: f.stderr.slice(-2000) }, "ceph command failed");
    return new AgentError(v.kind, message, { object, hint: v.hint });
  }

  #spawn(argv: readonly string[], signal: AbortSignal): Promise<RunResult> {
    const [file, ...rest] = argv;
    return new Promise((resolve, reject) => {
      const child = execFile(
        file ?? "ceph",
        rest,
        { signal, killSignal: "SIGKILL", maxBuffer: 64 << 20, encoding: "utf8", env: this.#env },
        (err, stdout, stderr) => {
          if (err)
            reject(Object.assign(new Error(err.message), { code: err.code, signal: err.signal, stderr }));
          else resolve({ stdout, stderr });
        },
      );
      child.stdin?.end();
    });
  }
}

interface ExecErrorShape {
  code?: unknown;
  signal?: unknown;
  stderr?: unknown;
}

function toFailure(err: unknown, timedOut: boolean): CephFailure {
  const e = (typeof err === "object" && err !== null ? err : {}) as ExecErrorShape;
  const code = e.code;
  return {
    exitCode: typeof code === "number" ? code : undefined,
    spawnCode: typeof code === "string" && /^E[A-Z]+$/.test(code) ? code : undefined,
    signal: typeof e.signal === "string" ? e.signal : undefined,
    stderr: typeof e.stderr === "string" ? e.stderr : "",
    timedOut,
  };
}
