// The one pino root logger: JSON lines on stdout, stable keys (level, time, pod, namespace, daemon,
// …, msg), errors under `err`, secrets redacted. Components take `log.child({component})`.
import { pino, stdSerializers, stdTimeFunctions, type DestinationStream, type Logger } from "pino";
import type { LogLevel } from "./config.ts";

export type { Logger } from "pino";

export interface LogBindings {
  readonly pod?: string;
  readonly namespace?: string;
  /** Ceph's name for the daemon: `mon.a`, `osd.3`. */
  readonly daemon?: string;
}

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Short human-readable lines instead of JSON, for a terminal; never in a cluster. */
  readonly pretty?: boolean;
  readonly bindings: LogBindings;
  /** Where lines go; stdout by default. Tests pass a collecting stream. */
  readonly destination?: DestinationStream;
}

/** Values that must never reach a log line: ServiceAccount tokens, Ceph keyrings, auth headers. */
export const REDACT_PATHS: readonly string[] = [
  "token",
  "*.token",
  "bearerToken",
  "*.bearerToken",
  "accessToken",
  "*.accessToken",
  "password",
  "*.password",
  "*.key",
  "keyring",
  "*.keyring",
  "*.*.keyring",
  "secret.data",
  "*.secret.data",
  "secret.stringData",
  "*.secret.stringData",
  "headers.authorization",
  "headers.Authorization",
  "*.headers.authorization",
  "*.headers.Authorization",
  "*.*.headers.authorization",
  "*.*.headers.Authorization",
];

export const REDACTED = "[redacted]";

/** Creates the process's root logger. */
export function createLogger(options: LoggerOptions): Logger {
  // Synchronous writes: an init container logs a handful of lines and then exits; nothing may be lost.
  const out = options.destination ?? pino.destination({ dest: 1, sync: true });
  return pino(
    {
      level: options.level,
      base: definedOnly(options.bindings),
      timestamp: stdTimeFunctions.isoTime,
      messageKey: "msg",
      errorKey: "err",
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeErr },
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
    },
    options.pretty === true ? prettyStream(out) : out,
  );
}

/** pino's err serializer, minus the stack of configuration errors: it is the user's mistake, not ours. */
function serializeErr(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const out = stdSerializers.err(err);
  if (err.name !== "ConfigError") return out;
  const { stack: _stack, kind: _kind, ...rest } = out as unknown as Record<string, unknown>;
  return rest;
}

function definedOnly(bindings: LogBindings): Record<string, string> {
  return Object.fromEntries(Object.entries(bindings).filter(([, v]) => v !== undefined));
}

// pino-pretty is not a dependency: a few lines turn each JSON line into
// `12:00:00.123 INFO  mon.a message key=value` with the error stack below.
const SKIP_KEYS = new Set(["level", "time", "msg", "pod", "namespace", "daemon", "err"]);

function prettyStream(out: DestinationStream): DestinationStream {
  return { write: (line: string) => out.write(formatPretty(line)) };
}

/** One JSON log line → one readable line (plus the stack of `err`). Exported for tests. */
export function formatPretty(line: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const time = typeof rec.time === "string" ? rec.time.slice(11, 23) : "";
  const level = text(rec.level).toUpperCase().padEnd(5);
  const extras = Object.entries(rec)
    .filter(([k]) => !SKIP_KEYS.has(k))
    .map(([k, v]) => ` ${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join("");
  const who = typeof rec.daemon === "string" ? `${rec.daemon} ` : "";
  return `${time} ${level} ${who}${text(rec.msg)}${extras}${errText(rec.err)}\n`;
}

function text(v: unknown): string {
  return typeof v === "string" ? v : v === undefined ? "" : JSON.stringify(v);
}

function errText(err: unknown): string {
  if (typeof err !== "object" || err === null) return "";
  const { stack, message } = err as { stack?: unknown; message?: unknown };
  return `\n    ${String(stack ?? message)}`;
}
