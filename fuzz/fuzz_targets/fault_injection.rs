//! cargo-fuzz glue for `regbuf_fuzz::targets::fault_injection`; the body lives in the library.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(report) = regbuf_fuzz::targets::fault_injection::run(data) {
        panic!("{report}");
    }
});
