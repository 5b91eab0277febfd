#!/usr/bin/env bash
# Rediscovery: for each variant with a known bug, from an empty corpus over
# seeds 1 to 5, the executions and time to the first finding with each
# engine, and the median. Engines: the CLI campaign (`regbuf-fuzz fuzz
# --stop-on-first`, one worker), cargo fuzz (libFuzzer on the differential
# target, -seed=N, stable, no sanitizer), proptest (examples/proptest_first),
# and, where the subcommand exists, the exhaustive search (deterministic, so
# one run). Writes a Markdown table to bench/rediscovery.md.
# Usage: bench/rediscovery.sh [VARIANT[:--known]...]
#   (default: every historical variant, rfc-v1, and upstream:--known, which
#   is 7.1's own RLIMIT_MEMLOCK bypass, a known bug set aside unless asked for)
# Each variant is compared with the version it changes: upstream, except
# for a revert of a 7.2 fix, which is compared with v7.2 (table below).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q --bins --examples
bin=target/release/regbuf-fuzz
variants=("$@")
if [ ${#variants[@]} -eq 0 ]; then
  mapfile -t variants < <("$bin" list | awk '/^  pre-/{print $1}')
  variants+=(rfc-v1 upstream:--known)
fi
limit=${REDISCOVERY_LIMIT:-120}
have_fuzz=0
if command -v cargo-fuzz >/dev/null; then cargo fuzz build -s none differential >/dev/null 2>&1 && have_fuzz=1; fi
have_exhaust=0
"$bin" exhaust --help >/dev/null 2>&1 && have_exhaust=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=${REDISCOVERY_OUT:-bench/rediscovery.md}
{
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), Linux $(uname -r); $(date -u +%F)."
  echo "Each cell: median over seeds 1-5 of executions (scenarios, libFuzzer units, proptest cases) and time to the first finding; limit ${limit} s per run."
  echo
  echo "| variant | campaign | cargo fuzz | proptest | exhaustive | first signature (campaign, seed 1) |"
  echo "|---|---|---|---|---|---|"
} >"$out"
median() { python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print(f"{statistics.median(v):g}" if v else "-")' "$@"; }
base_of() { case "$1" in pre-3996771b8f75) echo v7.2 ;; *) echo upstream ;; esac; }
for item in "${variants[@]}"; do
  v=${item%%:*}
  base=$(base_of "$v")
  known=""; [ "$item" != "$v" ] && known=${item#*:}
  c_n=(); c_t=(); f_n=(); f_t=(); p_n=(); p_t=(); sig=""
  for seed in 1 2 3 4 5; do
    line=$("$bin" fuzz --variant "$v" --against "$base" --seed "$seed" --stop-on-first --jobs 1 --time "$limit" --json $known --out "$work/c-$v-$seed" 2>/dev/null | head -1 || true)
    read -r n t s < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d.get("iteration","x"), d.get("elapsed_s","x"), d.get("signature","none"))' "$line")
    if [ "$n" != x ]; then c_n+=("$n"); c_t+=("$t"); fi
    [ "$seed" = 1 ] && sig=$s
    line=$(cargo run --release -q --example proptest_first -- "$v" "$seed" 200000 $known --against "$base" || true)
    read -r n t < <(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["cases"] if d["signature"] else "x", d.get("seconds","x"))' "$line")
    if [ "$n" != x ]; then p_n+=("$n"); p_t+=("$t"); fi
    if [ "$have_fuzz" = 1 ] && [ -z "$known" ]; then
      mkdir -p "$work/f-$v-$seed" "$work/a-$v-$seed"
      t0=$(date +%s.%N)
      REGBUF_VARIANT="$v" REGBUF_AGAINST="$base" cargo fuzz run -s none differential "$work/f-$v-$seed" -- \
        -seed="$seed" -max_total_time="$limit" -print_final_stats=1 -artifact_prefix="$work/a-$v-$seed/" \
        >"$work/f-$v-$seed.log" 2>&1 || true
      t1=$(date +%s.%N)
      if ls "$work/a-$v-$seed"/crash-* >/dev/null 2>&1; then
        f_n+=("$(grep -m1 -o 'stat::number_of_executed_units: [0-9]*' "$work/f-$v-$seed.log" | awk '{print $2}')")
        f_t+=("$(python3 -c "print($t1 - $t0)")")
      fi
    fi
  done
  cell() { # counts-array-name times-array-name
    local -n ns=$1 ts=$2
    if [ ${#ns[@]} -eq 0 ]; then echo "none in ${limit} s"; else echo "$(median "${ns[@]}") / $(median "${ts[@]}") s (${#ns[@]}/5)"; fi
  }
  fz="not run (no cargo-fuzz)"; [ "$have_fuzz" = 1 ] && fz=$(cell f_n f_t)
  [ -n "$known" ] && fz="n/a (the target sets known bugs aside)"
  ex="not run"
  if [ -n "$known" ]; then
    ex="n/a (RLIMIT_MEMLOCK is outside the bound)"
  elif [ "$have_exhaust" = 1 ]; then
    line=$("$bin" exhaust --variant "$v" --against "$base" --stop-on-first --json --out "$work/e-$v" 2>/dev/null | tail -1 || true)
    ex=$(python3 -c 'import json,sys
try:
    d = json.loads(sys.argv[1])
    print("%d / %.3g s" % (d["executed"], d["elapsed_s"]) if d.get("distinct_findings") else "none in bound")
except Exception:
    print("-")' "$line")
  fi
  shown=$v; [ "$base" != upstream ] && shown="$v (against $base)"
  echo "| \`$shown${known:+ $known}\` | $(cell c_n c_t) | $fz | $(cell p_n p_t) | $ex | \`$sig\` |" | tee -a "$out"
done
echo "wrote $out"
