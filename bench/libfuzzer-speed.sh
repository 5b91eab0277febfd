#!/usr/bin/env bash
# Executions per second of the `differential` cargo-fuzz target against an
# empty target built the same way (`-s none`, release, one process), side
# by side. `differential` runs upstream against itself here so that it does
# not stop at the first finding; the work per input is the same.
# Usage: bench/libfuzzer-speed.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo fuzz build -s none >/dev/null 2>&1
rate() { # target, extra env
  local dir; dir=$(mktemp -d)
  env "${@:2}" cargo fuzz run -s none "$1" "$dir" -- -max_total_time="$secs" 2>&1 \
    | grep -E '^#[0-9]+.*DONE' | sed -E 's/.*exec\/s: ([0-9]+).*/\1/'
  rm -rf "$dir"
}
empty=$(rate empty)
diff=$(rate differential REGBUF_VARIANT=upstream)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "empty:        $empty exec/s"
echo "differential: $diff exec/s"
python3 -c "print(f'ratio: {100 * $diff / $empty:.2f}%')"
