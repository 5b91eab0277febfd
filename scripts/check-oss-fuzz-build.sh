#!/usr/bin/env bash
# Runs .clusterfuzzlite/build.sh the way OSS-Fuzz and ClusterFuzzLite run it,
# without docker: the environment of the base-builder-rust image (base-image,
# base-clang, base-builder and base-builder-rust Dockerfiles, then `compile`
# and `compile_libfuzzer`) is set by hand, the build script runs against a
# copy of the checkout at $SRC/regbuf-fuzz, and its $OUT is checked the way
# base-runner's bad_build_check and run_fuzzer would: every fuzzer exists, is
# instrumented (edges, __asan calls), starts, fuzzes 2000 runs as shipped
# without crashing, replays its whole seed corpus without crashing; the seed
# zips are valid; and the differential build on rfc-v1 crashes within 120 s
# with an artifact that `regbuf-fuzz import-artifact` turns into a finding,
# which proves the binary is the real target.
#
# Exit 0 all checks pass, 1 a check fails, 77 skipped (a required tool is
# missing; the reason is printed). Environment:
#   RUSTUP_TOOLCHAIN    toolchain to build with (default: nightly; the image
#                       pins one, e.g. nightly-2025-09-05)
#   OSS_FUZZ_CHECK_DIR  where $SRC and $WORK live between runs, so a second
#                       run rebuilds only what changed (default:
#                       target/oss-fuzz-check)
#   CRASH_SECS          how long rfc-v1 may take to crash (default 120)
#   FLAVOUR             clusterfuzzlite (default): .clusterfuzzlite/build.sh;
#                       oss-fuzz: oss-fuzz/projects/regbuf-fuzz/build.sh
#   USE_CLANG           auto (default) or no: link as without clang (below)
#
# Where clang and its libFuzzer are installed (Debian: clang, libclang-rt-dev,
# libc++-dev) they are used as in the image: CC/CXX clang, clang as the
# linker, clang's libclang_rt.fuzzer as CUSTOM_LIBFUZZER_PATH with libc++.
# Without them the fuzzers link the libFuzzer that libfuzzer-sys bundles,
# built by the system C++ compiler, and the script says so.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

skip() { echo "check-oss-fuzz-build: SKIP: $*" >&2; exit 77; }
fail() { echo "check-oss-fuzz-build: FAIL: $*" >&2; exit 1; }
note() { echo "== $*"; }

toolchain=${RUSTUP_TOOLCHAIN:-nightly}
command -v rustup >/dev/null || skip "no rustup (the image builds with a nightly toolchain through rustup)"
rustup run "$toolchain" rustc --version >/dev/null 2>&1 ||
  skip "no $toolchain toolchain (rustup toolchain install $toolchain --profile minimal)"
cargo fuzz --version >/dev/null 2>&1 || skip "cargo-fuzz is not installed (cargo install cargo-fuzz)"
for t in jq zip unzip rsync objdump; do
  command -v "$t" >/dev/null || skip "$t is not installed (build.sh or the checks need it; the image has it)"
done

root=${OSS_FUZZ_CHECK_DIR:-$repo/target/oss-fuzz-check}
crash_secs=${CRASH_SECS:-120}
out=$(mktemp -d)
scratch=$(mktemp -d)
trap 'rm -rf "$out" "$scratch"' EXIT

# base-image
export SRC=$root/src OUT=$out WORK=$root/work
# base-builder and base-builder-rust
export SANITIZER=address FUZZING_ENGINE=libfuzzer ARCHITECTURE=x86_64 FUZZING_LANGUAGE=rust
export SANITIZER_FLAGS_address="-fsanitize=address -fsanitize-address-use-after-scope"
export SANITIZER_FLAGS=$SANITIZER_FLAGS_address
export COVERAGE_FLAGS="-fsanitize=fuzzer-no-link"
export RUSTUP_TOOLCHAIN=$toolchain
# compile (SANITIZER=address, x86_64) and compile_libfuzzer
export RUSTFLAGS="--cfg fuzzing -Zsanitizer=address -Cdebuginfo=1 -Cforce-frame-pointers"
export LIB_FUZZING_ENGINE="-fsanitize=fuzzer"
libfuzzer=
if [ "${USE_CLANG:-auto}" != no ] && command -v clang >/dev/null && command -v clang++ >/dev/null; then
  libfuzzer=$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a)
  [ -f "$libfuzzer" ] || libfuzzer=$(clang -print-file-name=libclang_rt.fuzzer.a)
  [ -f "$libfuzzer" ] || libfuzzer=
fi
if [ -n "$libfuzzer" ] && [ -e "$(clang++ -print-file-name=libc++.so)" ]; then
  # base-clang. The image's libFuzzer is built against libc++
  # (CUSTOM_LIBFUZZER_STD_CXX=c++); a distribution's is often built against
  # libstdc++, so link whichever C++ library this one refers to.
  std_cxx=c++
  [ "$(nm -u "$libfuzzer" 2>/dev/null | grep -c '_ZNSt7__cxx11')" -gt 0 ] && std_cxx=stdc++
  export CC=clang CXX=clang++ CCC=clang++
  export CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION $SANITIZER_FLAGS $COVERAGE_FLAGS"
  export CXXFLAGS="$CFLAGS -stdlib=libc++"
  export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER=clang
  export CUSTOM_LIBFUZZER_PATH=$libfuzzer CUSTOM_LIBFUZZER_STD_CXX=$std_cxx
  note "libFuzzer: $libfuzzer ($(clang --version | head -1)), linked by clang with lib$std_cxx"
else
  note "no clang with libclang_rt.fuzzer and libc++ here: the fuzzers link libfuzzer-sys's bundled libFuzzer (system C++ compiler); the image links clang's"
fi
# base-runner, for running the fuzzers
export ASAN_OPTIONS="alloc_dealloc_mismatch=0:allocator_may_return_null=1:allocator_release_to_os_interval_ms=500:check_malloc_usable_size=0:detect_container_overflow=1:detect_odr_violation=0:detect_leaks=1:detect_stack_use_after_return=1:fast_unwind_on_fatal=0:handle_abort=1:handle_segv=1:handle_sigill=1:max_uar_stack_size_log=16:print_scariness=1:quarantine_size_mb=10:strict_memcmp=1:symbolize=1:use_sigaltstack=1:dedup_token_length=3"
fuzzer_args=(-rss_limit_mb=2560 -timeout=25)
unset REGBUF_VARIANT REGBUF_AGAINST

note "rustc $(rustup run "$toolchain" rustc --version | cut -d' ' -f2-), $(cargo fuzz --version)"
note "SRC=$SRC OUT=$OUT WORK=$WORK"
note "RUSTFLAGS=$RUSTFLAGS"

# The Dockerfile: COPY . $SRC/regbuf-fuzz (minus .dockerignore), build.sh to $SRC.
mkdir -p "$SRC/regbuf-fuzz" "$WORK"
excludes=()
while read -r p; do
  case "$p" in '' | '#'*) ;; *) excludes+=(--exclude "/$p") ;; esac
done <.dockerignore
rsync -a --delete "${excludes[@]}" --exclude /.git ./ "$SRC/regbuf-fuzz/"
case "${FLAVOUR:-clusterfuzzlite}" in
  clusterfuzzlite) cp .clusterfuzzlite/build.sh "$SRC/build.sh" ;;
  oss-fuzz) cp oss-fuzz/projects/regbuf-fuzz/build.sh "$SRC/build.sh" ;;
  *) fail "FLAVOUR is clusterfuzzlite or oss-fuzz, not ${FLAVOUR}" ;;
esac

note "bash -eux \$SRC/build.sh (as compile runs it)"
start=$(date +%s)
(cd "$SRC/regbuf-fuzz" && bash -eux "$SRC/build.sh") >"$scratch/build.log" 2>&1 ||
  { tail -40 "$scratch/build.log"; fail "build.sh failed (log above)"; }
note "build.sh done in $(($(date +%s) - start)) s"

fuzzers=(differential_upstream differential_rfc-v1-fixed fault_injection fault_injection_rfc-v1-fixed decode)
options() { # fuzzer: its .options file as libFuzzer flags, as run_fuzzer passes them
  local f=$OUT/$1.options
  [ -f "$f" ] || return 0
  sed -n 's/^\([a-z_]*\) *= *\(.*\)$/\1 \2/p' "$f" | while read -r k v; do
    [ "$k" = dict ] && v=$OUT/$v
    echo "-$k=$v"
  done
}

for f in "${fuzzers[@]}"; do
  bin=$OUT/$f
  [ -x "$bin" ] || fail "$f is not in \$OUT"
  mapfile -t opts < <(options "$f")

  # bad_build_check: check_engine, check_mixed_sanitizers, check_startup_crash
  "$bin" -seed=1337 -runs=4 "${fuzzer_args[@]}" "${opts[@]}" >"$scratch/$f.start" 2>&1 || true
  grep -q "Is the code instrumented" "$scratch/$f.start" && fail "$f: libFuzzer sees no instrumentation"
  edges=$(grep -Po "INFO: Loaded [[:digit:]]+ module.*\(.*(counters|guards)\):[[:space:]]+\K[[:digit:]]+" "$scratch/$f.start" | head -1 || true)
  [ "${edges:-0}" -ge 100 ] || fail "$f: ${edges:-no} instrumented edges (bad_build_check wants 100)"
  grep -q "Done 4 runs" "$scratch/$f.start" || { cat "$scratch/$f.start"; fail "$f: startup crash"; }
  asan=$(objdump -d "$bin" | grep -cE "callq?\s+[0-9a-f]+\s+<__asan" || true)
  [ "$asan" -ge 1000 ] || fail "$f: $asan calls to __asan (bad_build_check wants 1000 for an ASan build)"

  # As shipped, no environment: 2000 runs must not crash.
  mkdir -p "$scratch/corpus-$f"
  "$bin" -runs=2000 -seed=1 "${fuzzer_args[@]}" "${opts[@]}" "$scratch/corpus-$f" >"$scratch/$f.run" 2>&1 ||
    { tail -30 "$scratch/$f.run"; fail "$f crashed within 2000 runs as shipped"; }
  grep -q "Done 2000 runs" "$scratch/$f.run" || fail "$f did not finish 2000 runs"

  # Its seed corpus: a valid zip, every input replayed without a crash.
  zip=$OUT/${f}_seed_corpus.zip
  [ -f "$zip" ] || fail "no $zip"
  unzip -tq "$zip" >/dev/null || fail "$zip is not a valid zip"
  n=$(unzip -Z1 "$zip" | wc -l)
  [ "$n" -gt 0 ] || fail "$zip is empty"
  rm -rf "$scratch/seeds-$f" && mkdir -p "$scratch/seeds-$f" && unzip -q "$zip" -d "$scratch/seeds-$f"
  "$bin" -runs=0 "${fuzzer_args[@]}" "${opts[@]}" "$scratch/seeds-$f" >"$scratch/$f.seeds" 2>&1 ||
    { tail -30 "$scratch/$f.seeds"; fail "$f crashed on its seed corpus"; }
  printf '   %-30s %6s edges %6s __asan calls  2000 runs clean  %3s seeds replayed clean\n' "$f" "$edges" "$asan" "$n"
done
[ -f "$OUT/decode.dict" ] || fail "no decode.dict in \$OUT"
ntoml=$(unzip -Z1 "$OUT/decode_seed_corpus.zip" | grep -c '\.toml$' || true)
want=$(find corpus -name '*.toml' | wc -l)
[ "$ntoml" = "$want" ] || fail "decode_seed_corpus.zip holds $ntoml scenario files, corpus/ has $want"

note "the differential build on rfc-v1 (REGBUF_VARIANT wins over the name) must crash within $crash_secs s"
mkdir -p "$scratch/rfc" "$scratch/art"
if REGBUF_VARIANT=rfc-v1 "$OUT/differential_upstream" -max_total_time="$crash_secs" -seed=1 \
  -artifact_prefix="$scratch/art/" -print_final_stats=1 "${fuzzer_args[@]}" "$scratch/rfc" >"$scratch/rfc.log" 2>&1; then
  fail "differential found nothing on rfc-v1 in $crash_secs s"
fi
artifact=$(ls "$scratch"/art/crash-* 2>/dev/null | head -1)
[ -n "$artifact" ] || { tail -30 "$scratch/rfc.log"; fail "it stopped without a crash artifact"; }
grep -m1 '^finding rfc-v1:' "$scratch/rfc.log" || { tail -30 "$scratch/rfc.log"; fail "the crash is not an rfc-v1 finding"; }
grep -m1 -E 'stat::number_of_executed_units' "$scratch/rfc.log" || true
set +e
# The command line tool is built as usual, not with the image's flags.
env -u RUSTFLAGS -u RUSTUP_TOOLCHAIN -u CC -u CXX -u CCC -u CFLAGS -u CXXFLAGS \
  -u CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER -u CUSTOM_LIBFUZZER_PATH -u CUSTOM_LIBFUZZER_STD_CXX \
  cargo run --release -q -- import-artifact "$artifact" --target differential --variant rfc-v1 -o "$scratch/"
imported=$?
set -e
[ "$imported" = 1 ] && ls "$scratch"/rfc-v1--*.toml >/dev/null 2>&1 ||
  fail "import-artifact exited $imported on the artifact, not 1 with a corpus file"
note "OSS-Fuzz build check passed: ${#fuzzers[@]} fuzzers, out of $(du -sh "$OUT" | cut -f1) in \$OUT"
