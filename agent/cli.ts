#!/usr/bin/env node
// Entry point: `ceph-mcs-agent init|controller|status|version`. Parses argv only (configuration is the
// environment, see config.ts), dispatches to a mode, and turns the outcome into an exit code.
import { parseArgs } from "node:util";
// A JSON import (not a file read relative to this module) so the version is inlined when esbuild
// bundles dist/ceph-mcs-agent.mjs, and still works unbundled under Node's type stripping.
import pkg from "../package.json" with { type: "json" };
import { ENV_VARS, logSettings, processEnv } from "./config.ts";
import { ConfigError, ExitCode } from "./errors.ts";
import { createLogger } from "./log.ts";

export const NAME = "ceph-mcs-agent";
export const VERSION: string = pkg.version;

const MODES = {
  init: "init container of a mon/OSD pod: export its Service, wait for the global IP, write CEPH_MCS_DIR",
  controller: "leader-elected controller: mon endpoints and client configs, migration, cleanup",
  webhook: "admission webhook: injects the init container and wrapper into Rook's mon/OSD pods",
  status: "show the MCS state of a CephCluster's mons and OSDs",
  version: "print the version",
} as const;
type Mode = keyof typeof MODES;

const exitCodes = Object.entries(ExitCode)
  .map(([name, code]) => `${code} ${name}`)
  .join(", ");

export function usage(): string {
  const modes = Object.entries(MODES).map(([mode, what]) => `  ${mode.padEnd(12)}${what}`);
  const required = ENV_VARS.filter((v) => v.required).map((v) => v.name);
  return [
    `Usage: ${NAME} <mode> [options]`,
    "",
    "Modes:",
    ...modes,
    "",
    "Options:",
    "  -h, --help     print this help",
    "  -v, --version  print the version",
    "",
    `Configuration is the environment only: ${ENV_VARS.length} variables (${required.join(", ")} required;`,
    'CEPH_MCS_*, LOG_LEVEL optional), listed with defaults in README.md, "Environment".',
    `Exit codes: ${exitCodes}.`,
    "",
  ].join("\n");
}

/** A mode's work; resolves to the process's exit code. */
type Handler = (io: Io) => Promise<number>;

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const HANDLERS: Readonly<Record<Mode, Handler>> = {
  init: async () => {
    // Loaded on demand so `--help` never pays for the Kubernetes client.
    const { runInit } = await import("./init/main.ts");
    return runInit();
  },
  controller: async () => {
    const { runController } = await import("./controller/main.ts");
    return runController();
  },
  webhook: async () => {
    const { runWebhook } = await import("./webhook/main.ts");
    return runWebhook(VERSION);
  },
  status: async (io) => {
    const { runStatus } = await import("./controller/status-main.ts");
    return runStatus((text) => io.out(text));
  },
  version: (io) => {
    io.out(`${NAME} ${VERSION}\n`);
    return Promise.resolve(ExitCode.ok);
  },
};

function usageError(io: Io, message: string): number {
  io.err(`${NAME}: ${message}\n\n${usage()}`);
  return ExitCode.misconfigured;
}

function isMode(s: string): s is Mode {
  return Object.hasOwn(MODES, s);
}

type Parsed =
  { ok: true; help: boolean; version: boolean; positionals: string[] } | { ok: false; message: string };

function parse(argv: readonly string[]): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: { help: { type: "boolean", short: "h" }, version: { type: "boolean", short: "v" } },
      allowPositionals: true,
    });
    return { ok: true, help: values.help === true, version: values.version === true, positionals };
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

/** Runs the CLI for `argv` (without node and script); resolves to the exit code. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const parsed = parse(argv);
  if (!parsed.ok) return usageError(io, parsed.message);
  if (parsed.help) {
    io.out(usage());
    return ExitCode.ok;
  }
  if (parsed.version) return HANDLERS.version(io);
  const [mode, ...extra] = parsed.positionals;
  if (mode === undefined) return usageError(io, "no mode given");
  if (!isMode(mode)) return usageError(io, `unknown mode "${mode}"`);
  if (extra.length > 0) return usageError(io, `unexpected argument "${extra.join(" ")}"`);
  return HANDLERS[mode](io);
}

/** Anything a mode did not handle: one log line, then a distinct exit code. */
function fatal(err: unknown): number {
  const log = createLogger(logSettings(processEnv()));
  const misconfigured = err instanceof ConfigError;
  log.fatal({ err }, misconfigured ? err.message : `${NAME} failed unexpectedly`);
  return misconfigured ? ExitCode.misconfigured : ExitCode.internal;
}

const processIo: Io = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

async function run(): Promise<void> {
  let code: number;
  try {
    code = await main(process.argv.slice(2), processIo);
  } catch (err) {
    code = fatal(err);
  }
  // Exit explicitly: a mode must not be kept alive by a leftover watch or timer. Logs are written
  // synchronously and stdout/stderr are synchronous on files and Linux pipes, so nothing is lost.
  process.exit(code);
}

if (import.meta.main) await run();
