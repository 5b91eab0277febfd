//! cargo-fuzz glue for `regbuf_fuzz::targets::decode`; the body lives in the library.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(report) = regbuf_fuzz::targets::decode::run(data) {
        panic!("{report}");
    }
});
