#!/usr/bin/env bash
# Debian packages the tests and pages need: a PostgreSQL server (binaries only;
# our own scripts start throwaway clusters), CJK fonts for rendered Chinese and
# promtool for the Prometheus rules; wrk and Node, the HTTP load generators of `gridhub bench`.
# Java and Maven (for the Kafka broker jars) ship with the machine.
set -euo pipefail

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk)
# Headless Chromium for the Playwright page tests (tests/browser; never `playwright install`).
[ -x /usr/bin/chromium ] || missing+=(chromium)
# promtool (checks and unit-tests deploy/prometheus); Debian ships it with the server,
# which its package does not start in a container (policy-rc.d).
command -v promtool >/dev/null || missing+=(prometheus)
# wrk drives the gateway in `gridhub bench` (and its test) from a process of its own.
command -v wrk >/dev/null || missing+=(wrk)
# Node runs the bench's fixed-rate load generator of the latency phase (gridhub/bench/poster.js).
command -v node >/dev/null || missing+=(nodejs)
for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "error: $tool is required (OpenJDK 17 + Maven)" >&2; exit 1; }
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "error: please install: ${missing[*]} (sudo apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "installing ${missing[*]} from Debian's packages..."
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
