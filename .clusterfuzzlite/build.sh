#!/bin/bash -eu
# Builds the cargo-fuzz targets as OSS-Fuzz and ClusterFuzzLite expect: run
# by the base-builder-rust image's `compile`, which sets $SRC, $OUT, $WORK,
# $RUSTFLAGS (--cfg fuzzing -Zsanitizer=address ...) and $SANITIZER. Puts
# into $OUT the fuzzers, a .options file each, the decode dictionary and a
# seed corpus zip per fuzzer.
#
# The fuzzers read no environment there, so each is a copy of a cargo-fuzz
# target named `<target>_<variant>` for the variant it tests (the target
# reads that from its own name; $REGBUF_VARIANT still wins when set):
#   differential_upstream         upstream against itself: any crash is a bug
#                                 in the model or the oracle
#   differential_rfc-v1-fixed     the corrected fast path against upstream
#   fault_injection               upstream under one failed allocation
#   fault_injection_rfc-v1-fixed  the corrected fast path likewise
#   decode                        the scenario parser and the generator
# Not shipped: `differential` as built (RFC v1 against upstream crashes in
# seconds on its known bugs, which would fail every run) and `empty` (a
# speed baseline).

cd "$SRC/regbuf-fuzz"

# OSS-Fuzz's Rust convention; --debug-assertions keeps overflow checks and
# debug_assert! on, as `cargo fuzz run` does by default.
cargo fuzz build -O --debug-assertions

target_dir=$(cargo metadata --format-version 1 --no-deps --manifest-path fuzz/Cargo.toml | jq -r .target_directory)
release="$target_dir/x86_64-unknown-linux-gnu/release"

ship() { # target, name in $OUT
  cp "$release/$1" "$OUT/$2"
}
ship differential differential_upstream
ship differential differential_rfc-v1-fixed
ship fault_injection fault_injection
ship fault_injection fault_injection_rfc-v1-fixed
ship decode decode

# The generator reads at most a few hundred bytes (a test pins this), so
# longer inputs only waste mutations; and since any bytes make a scenario,
# nothing is gained by libFuzzer's slow growth from short inputs
# (len_control): from an empty corpus, 30,000 runs reach about 2,170 edges
# with len_control = 0 and about 1,830 without. Scenario text for decode is
# longer.
for f in differential_upstream differential_rfc-v1-fixed fault_injection fault_injection_rfc-v1-fixed; do
  printf '[libfuzzer]\nmax_len = 512\nlen_control = 0\n' > "$OUT/$f.options"
done
printf '[libfuzzer]\nmax_len = 8192\ndict = decode.dict\n' > "$OUT/decode.options"
cp fuzz/decode.dict "$OUT/decode.dict"

# Seed corpora. The byte-driven targets cannot read TOML: their seeds are
# the generator inputs in fuzz/seeds/differential (one per distinct finding
# of every variant, from `regbuf-fuzz seed-corpus`), which put the layouts
# of every known bug in the corpus from the start. In edges they are worth
# little more than any full-length input (README, "Fuzzing at scale").
# decode gets those and every scenario file of the corpus.
seeds="$WORK/seeds"
rm -rf "$seeds"
mkdir -p "$seeds/decode"
(cd fuzz/seeds/differential && zip -q -j "$seeds/bytes.zip" ./*)
for f in differential_upstream differential_rfc-v1-fixed fault_injection fault_injection_rfc-v1-fixed; do
  cp "$seeds/bytes.zip" "$OUT/${f}_seed_corpus.zip"
done
find corpus -name '*.toml' | while read -r t; do
  cp "$t" "$seeds/decode/$(echo "${t#corpus/}" | tr / _)"
done
cp fuzz/seeds/differential/* "$seeds/decode/"
(cd "$seeds/decode" && zip -q -j "$OUT/decode_seed_corpus.zip" ./*)
