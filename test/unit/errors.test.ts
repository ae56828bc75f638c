import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiException } from "@kubernetes/client-node";
import { AgentError, classify, wrap } from "../../agent/errors.ts";

const status = (code: number, reason: string) =>
  new ApiException(code, "x", JSON.stringify({ kind: "Status", reason, message: `m-${reason}` }), {});

test("classifies apiserver statuses", () => {
  assert.equal(classify(status(404, "NotFound")), "notFound");
  assert.equal(classify(status(409, "Conflict")), "conflict");
  assert.equal(classify(status(409, "AlreadyExists")), "conflict");
  for (const code of [408, 410, 429, 500, 502, 503, 504])
    assert.equal(classify(status(code, "X")), "retryable");
  for (const code of [400, 401, 403, 415, 422]) assert.equal(classify(status(code, "X")), "permanent");
});

test("classifies transport errors through their cause", () => {
  const refused = new TypeError("fetch failed", {
    cause: Object.assign(new Error("c"), { code: "ECONNREFUSED" }),
  });
  assert.equal(classify(refused), "retryable");
  assert.equal(classify(new DOMException("t", "TimeoutError")), "retryable");
  assert.equal(classify(new DOMException("a", "AbortError")), "permanent");
  assert.equal(classify(new Error("boom")), "permanent");
});

test("wrap says what failed, on which object, and keeps the class", () => {
  const e = wrap(status(403, "Forbidden"), "create ServiceExport", "ServiceExport ns/x", "grant create");
  assert.equal(e.kind, "permanent");
  assert.match(
    e.message,
    /^failed to create ServiceExport: m-Forbidden \(ServiceExport ns\/x\): grant create$/,
  );
  assert.equal(classify(new AgentError("retryable", "x")), "retryable");
});
