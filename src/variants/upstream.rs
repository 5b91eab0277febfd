//! `upstream`: Linux 7.1-rc1 as it is. Every function is the default of
//! [`super::Variant`] (its known bug too), so this file only names it.

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
}
