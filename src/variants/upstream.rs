//! `upstream`: Linux 7.1-rc1 as it is. Every kernel function is the default
//! of [`super::Variant`], so this file only names it and its known bug.

/// Linux 7.1-rc1.
#[derive(Debug)]
pub struct Upstream;

impl super::Variant for Upstream {
    fn name(&self) -> &'static str {
        "upstream"
    }
    fn summary(&self) -> &'static str {
        "Linux 7.1-rc1 (io_uring/rsrc.c 650303626be6, io_uring/memmap.c 4f9b439319c4)"
    }
    /// 7.1's RLIMIT_MEMLOCK bypass, fixed in 7.2.
    fn known_bugs(&self) -> &'static [super::KnownBug] {
        &[super::RLIMIT_BYPASS_7_1]
    }
}
