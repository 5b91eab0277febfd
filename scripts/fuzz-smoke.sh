#!/usr/bin/env bash
# Each cargo-fuzz target briefly on stable (`-s none`), then the loop a user
# follows: the differential target finds RFC v1's bug, `import-artifact`
# turns the crash into a minimised corpus file, `replay` reproduces it.
# With a nightly toolchain present, the differential target also runs under
# AddressSanitizer. Exits non-zero on any step that does not behave.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECS:-15}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo fuzz build -s none

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() { # name, target, env...
  echo "== cargo fuzz run -s none $2 (${*:3}) for ${secs}s"
  mkdir -p "$work/$1"
  env "${@:3}" cargo fuzz run -s none "$2" "$work/$1" -- -max_total_time="$secs" 2>&1 | grep -E 'DONE|Done' | tail -2
}
run decode decode
run faults fault_injection REGBUF_VARIANT=upstream
run self differential REGBUF_VARIANT=upstream REGBUF_AGAINST=upstream

echo "== differential on rfc-v1 must crash"
mkdir -p "$work/rfc" "$work/art"
if cargo fuzz run -s none differential "$work/rfc" -- -max_total_time=120 -artifact_prefix="$work/art/" >"$work/rfc.log" 2>&1; then
  echo "differential found nothing on rfc-v1 in 120 s" >&2
  exit 1
fi
artifact=$(ls "$work"/art/crash-* | head -1)
grep -m1 '^finding' "$work/rfc.log"
# Both commands exit 1 when they show a finding, which is what we expect.
set +e
cargo run --release -q -- import-artifact "$artifact" --target differential -o "$work/"
imported=$?
file=$(ls "$work"/rfc-v1--*.toml 2>/dev/null | head -1)
cargo run --release -q -- replay "$file" --variant rfc-v1 >/dev/null
code=$?
set -e
[ "$imported" = 1 ] && [ -n "$file" ] || { echo "import-artifact exited $imported and wrote '${file}'" >&2; exit 1; }
[ "$code" = 1 ] || { echo "replay of the imported artifact exited $code, not 1" >&2; exit 1; }
echo "imported artifact replays as a finding: $file"

if rustup toolchain list 2>/dev/null | grep -q nightly; then
  echo "== differential under AddressSanitizer (nightly), upstream against itself"
  mkdir -p "$work/asan"
  REGBUF_VARIANT=upstream cargo +nightly fuzz run differential "$work/asan" -- -max_total_time="$secs" 2>&1 | grep -E 'DONE|Done' | tail -2
else
  echo "== no nightly toolchain: AddressSanitizer run skipped"
fi
