#!/usr/bin/env bash
# One IORING_REGISTER_BUFFERS + IORING_UNREGISTER_BUFFERS of a 2 MiB hugetlb
# buffer on the running kernel (root: reserves one huge page and gives it
# back), timed over many rounds, for comparison with the RFC's own figures
# (3797 ns per io_sqe_buffer_register upstream, 2970 ns with the patch).
# Usage: bench/live-register.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
exec target/release/regbuf-fuzz live-bench --rounds "${1:-20000}"
