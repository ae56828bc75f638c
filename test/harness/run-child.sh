#!/bin/sh
# Runs a control-plane process and ends it when the test runner that started it is gone, even if the
# runner was SIGKILLed (Node has no parent-death signal), so no etcd/apiserver outlives a test run.
parent="$1"; shift
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 143' TERM INT
while kill -0 "$child" 2>/dev/null; do
  if ! kill -0 "$parent" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null
    sleep 2
    kill -KILL "$child" 2>/dev/null
    break
  fi
  sleep 1
done
wait "$child"
