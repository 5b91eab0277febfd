#!/usr/bin/env bash
# Large buffers: wall time and peak memory of replaying, on v7.2 against
# itself, at the real geometry: a 2 MiB buffer, SZ_1T (1024 copies of a
# 1 GiB PUD page, coalesced), 400 GiB that does not coalesce, and 512 GiB
# that does not coalesce (the io_alloc_imu WARN); then the peak memory of
# one campaign worker with the real geometry's large counts in the mix.
# Each replay figure is the median of RUNS runs of the whole process
# (default 5). Writes bench/large-buffers.md.
# Usage: bench/large-buffers.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release -q --bin regbuf-fuzz
bin=target/release/regbuf-fuzz
out=bench/large-buffers.md
{
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), Linux $(uname -r); $(date -u +%F)."
  echo "Command: \`$bin replay FILE --variant v7.2 --against v7.2\`, median of $runs runs, whole process."
  echo
  echo "| scenario | geometry | pages in the buffer | wall, median (s) | peak RSS, largest (MiB) |"
  echo "|---|---|---|---|---|"
} >"$out"
for row in \
  "corpus/seeds/sizes/2m-hugetlb.toml|real|512" \
  "corpus/seeds/sizes/sz-1t-of-pud-copies.toml|real|268435455" \
  "corpus/seeds/sizes/sz-400g-uncoalesced.toml|real|104857601" \
  "corpus/findings/v7.2/imu-over-int-max.toml|real|134217729"; do
  IFS='|' read -r file geo pages <<<"$row"
  # One process per run, timed from outside; peak RSS from the kernel's
  # accounting of the finished child.
  read -r t m < <(python3 - "$runs" "$bin" replay "$file" --variant v7.2 --against v7.2 <<'PY'
import resource, statistics, subprocess, sys, time
runs, cmd = int(sys.argv[1]), sys.argv[2:]
ts, ms = [], []
for _ in range(runs):
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False)
    ts.append(time.perf_counter() - t0)
    ms.append(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
print(f"{statistics.median(ts):.4f} {max(ms):.1f}")
PY
)
  echo "| \`$file\` | $geo | $pages | $t | $m |" | tee -a "$out"
done
# One worker, so its peak is the worker's; the real geometry only, where
# counts reach SZ_1T, and the default mix (the small geometry's SZ_1T
# images among them).
{
  echo
  echo "Campaign worker: \`$bin fuzz --variant v7.2 --against v7.2 --seed 1 --runs 100000 --jobs 1 [--geometry real]\`, one run each."
  echo
  echo "| geometries | scenarios | wall (s) | peak RSS (MiB) |"
  echo "|---|---|---|---|"
} >>"$out"
for geo in "real" ""; do
  read -r t m < <(python3 - "$bin" fuzz --variant v7.2 --against v7.2 --seed 1 --runs 100000 --jobs 1 ${geo:+--geometry $geo} <<'PY'
import resource, subprocess, sys, time
t0 = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
print(f"{time.perf_counter() - t0:.1f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.1f}")
PY
)
  echo "| ${geo:-all (default)} | 100000 | $t | $m |" | tee -a "$out"
done
echo "wrote $out"
