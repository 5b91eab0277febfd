#!/usr/bin/env bash
# Large buffers: wall time and peak memory of replaying, on v7.2 against
# itself, a 2 MiB buffer at the real geometry and the small-geometry images
# of a SZ_1T buffer (1024 copies of a PUD page, coalesced) and of a 512 GiB
# buffer that does not coalesce (the io_alloc_imu WARN). Each figure is the
# median of RUNS runs of the whole process (default 5). Writes
# bench/large-buffers.md.
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
  echo "| scenario | geometry | pages pinned | wall, median (s) | peak RSS, largest (MiB) |"
  echo "|---|---|---|---|---|"
} >"$out"
for row in \
  "corpus/seeds/sizes/2m-hugetlb.toml|real|512" \
  "corpus/seeds/sizes/sz-1t-of-pud-copies.toml|small|4194303" \
  "corpus/findings/v7.2/imu-over-int-max.toml|small|2097153"; do
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
echo "wrote $out"
