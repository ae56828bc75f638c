// The one retry policy: retryable errors only (the classifier decides), exponential back-off with
// jitter, bounded by the caller's deadline signal; when the deadline ends it, the last real error is
// what the caller sees, not an anonymous abort.
import pRetry from "p-retry";
import { classify } from "./errors.ts";

export interface RetryPolicy {
  minMs: number;
  maxMs: number;
  factor: number;
  onRetry?: (err: Error, attempt: number) => void;
}

export const API_RETRY: RetryPolicy = { minMs: 300, maxMs: 5000, factor: 2 };

export async function retryUntil<T>(
  fn: () => Promise<T>,
  signal: AbortSignal,
  policy: RetryPolicy,
): Promise<T> {
  let last: unknown;
  try {
    return await pRetry(
      async () => {
        try {
          return await fn();
        } catch (err) {
          last = err;
          throw err;
        }
      },
      {
        retries: Number.MAX_SAFE_INTEGER,
        minTimeout: policy.minMs,
        maxTimeout: policy.maxMs,
        factor: policy.factor,
        randomize: true,
        signal,
        shouldRetry: ({ error }) => classify(error) === "retryable",
        onFailedAttempt: ({ error, attemptNumber }) => policy.onRetry?.(error, attemptNumber),
      },
    );
  } catch (err) {
    throw signal.aborted && last !== undefined ? last : err;
  }
}
