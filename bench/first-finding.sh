#!/usr/bin/env bash
# Time from an empty corpus to the first finding of `regbuf-fuzz fuzz`, for
# seeds 1 to 5: the in-campaign time (JSON `elapsed_s`) and the wall time of
# the whole process. Prints a table and the medians.
# Usage: bench/first-finding.sh [VARIANT] [AGAINST]
set -euo pipefail
cd "$(dirname "$0")/.."
variant=${1:-rfc-v1}
against=${2:-upstream}
cargo build --release -q
bin=target/release/regbuf-fuzz
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r)"
echo "seed  iteration  campaign_s  wall_s  signature"
for seed in 1 2 3 4 5; do
  t0=$(date +%s.%N)
  line=$("$bin" fuzz --variant "$variant" --against "$against" --seed "$seed" --stop-on-first --time 300 --json | head -1 || true)
  t1=$(date +%s.%N)
  python3 - "$seed" "$line" "$t0" "$t1" <<'PY'
import json, sys
seed, line, t0, t1 = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
d = json.loads(line)
if d.get("summary"):
    print(f"{seed:>4}  none within 300 s")
else:
    print(f"{seed:>4}  {d['iteration']:>9}  {d['elapsed_s']:>10.4f}  {t1 - t0:>6.3f}  {d['signature']}")
PY
done | tee /tmp/first-finding.txt
python3 - <<'PY'
import statistics
rows = [l.split() for l in open("/tmp/first-finding.txt") if l.split()[1] != "none"]
if rows:
    print(f"median: campaign {statistics.median(float(r[2]) for r in rows):.4f} s, wall {statistics.median(float(r[3]) for r in rows):.3f} s, iterations {statistics.median(int(r[1]) for r in rows)}")
PY
