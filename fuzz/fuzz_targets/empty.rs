//! An empty target built the same way: the baseline for the executions per
//! second of `differential` (see `bench/libfuzzer-speed.sh`).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    std::hint::black_box(data);
});
