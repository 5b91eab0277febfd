#!/usr/bin/env bash
# The kernel's C in the loop: how long a tree takes to build when not
# cached (both geometries), and how many scenarios a second the compiled C
# runs next to the Rust model. One worker, RUNS scenarios with faults, seed 1.
# Writes bench/ctree.md.
# Usage: bench/ctree.sh TREE [RUNS]      (TREE: e.g. $(scripts/kernel-tree.sh 7.2))
set -euo pipefail
cd "$(dirname "$0")/.."
tree=${1:?usage: bench/ctree.sh TREE [RUNS]}
runs=${2:-200000}
cargo build --release -q --bin regbuf-fuzz
bin=target/release/regbuf-fuzz
out=bench/ctree.md
cache=$(mktemp -d)
t0=$(date +%s.%N)
REGBUF_FUZZ_CACHE=$cache $bin tree --tree "$tree" >/dev/null
t1=$(date +%s.%N)
rm -rf "$cache"
rate() { "$bin" fuzz --seed 1 --runs "$runs" --jobs 1 "$@" 2>&1 | tail -1 | sed -E 's/.*\(([0-9]+) execs\/s\).*/\1/'; }
model=$(rate --variant v7.2 --against v7.2)
both=$(rate --tree "$tree" --variant tree --against v7.2)
python3 - "$model" "$both" "$t0" "$t1" "$runs" "$tree" "$out" <<'PY'
import sys, subprocess, datetime
model, both, t0, t1, runs, tree, out = sys.argv[1:]
model, both = float(model), float(both)
# A variant against itself runs once (oracle::check_built clones the run),
# so model/model costs m; tree/model runs both sides, c + m.
m = 1 / model
c = 1 / both - m
cpu = open('/proc/cpuinfo').read().split('model name')[1].split('\n')[0].strip(': \t')
nproc = subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()
uname = subprocess.run(['uname', '-r'], capture_output=True, text=True).stdout.strip()
with open(out, 'w') as f:
    f.write(f"Machine: {nproc} cores, {cpu}, Linux {uname}; {datetime.date.today()}.\n")
    f.write(f"Tree: {tree}. Command: `bench/ctree.sh TREE {runs}`.\n\n")
    f.write("| figure | value |\n|---|---|\n")
    f.write(f"| build, not cached (both geometries) | {float(t1) - float(t0):.2f} s |\n")
    f.write(f"| `fuzz --variant v7.2 --against v7.2`, one worker | {model:.0f} scenarios/s |\n")
    f.write(f"| `fuzz --tree TREE --variant tree --against v7.2`, one worker | {both:.0f} scenarios/s |\n")
    f.write(f"| one scenario on the Rust model | {m * 1e6:.1f} µs |\n")
    f.write(f"| one scenario on the compiled C (with its mirror) | {c * 1e6:.1f} µs |\n")
    f.write(f"| C's rate as a share of the model's | {m / c:.2f} |\n")
print(open(out).read())
PY
