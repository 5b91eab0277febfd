#!/usr/bin/env bash
# Scenarios per minute per core of `regbuf-fuzz exhaust`: rfc-v1 against
# upstream (two model runs per scenario, every invariant after every
# operation) over a bound, on 1 worker and on 2. "Per core" is per second
# of CPU the search used (getrusage), which other load on the machine does
# not inflate; the wall-time rate per worker is printed beside it, with
# the load average, so a busy machine shows. Findings go to a temporary
# directory.
# Usage: bench/exhaust-speed.sh [BOUND FLAGS...]   (default: the default bound)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=target/release/regbuf-fuzz
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(uname -r)"
echo "bound: ${*:-(default)}"
echo "jobs  executed     wall_s  cpu_s   per_core_per_min(cpu)  per_worker_per_min(wall)  load_before"
for jobs in 1 2; do
  load=$(cut -d' ' -f1 /proc/loadavg)
  # Exit status 1 is "findings", expected for rfc-v1.
  { "$bin" exhaust --variant rfc-v1 --jobs "$jobs" --json --out "$out" "$@" || [ $? -eq 1 ]; } | tail -1 |
    python3 -c '
import json, sys
jobs, load = int(sys.argv[1]), sys.argv[2]
d = json.loads(sys.stdin.read())
x, w, c = d["executed"], d["elapsed_s"], d["cpu_s"]
print(f"{jobs:>4}  {x:>11,}  {w:>6.1f}  {c:>6.1f}  {x / c * 60:>21,.0f}  {x / w / jobs * 60:>24,.0f}  {load}")
' "$jobs" "$load"
done
