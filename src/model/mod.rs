//! The kernel model: io_uring/rsrc.c and io_uring/memmap.c at Linux 7.1-rc1,
//! function for function, name for name, step for step.
//!
//! Files are named after the kernel files they mirror. Each modelled function
//! opens with `Model of <fn>() — <file>, <version>` and lists its divergences.
//! Every function of the path, GUP's included, is reached through the
//! [`crate::variants::Variant`] trait (the first argument `v`), so a variant
//! swaps exactly the functions its patch changes, at every call site, and
//! shares the rest.
//!
//! Conventions carried over from C: `ERR_PTR(-E…)` is `Err(Errno::E…)`, NULL
//! is `None`, `goto done` is a labelled block followed by the cleanup, and
//! `WARN_ON_ONCE(cond)` is [`World::warn_on_once`], which records the site for
//! the oracles instead of printing.

pub mod cint;
pub mod clone;
pub mod iov_iter;
pub mod kbuf;
pub mod memmap;
pub mod rsrc;
pub mod runs;
pub mod sizeof;
pub mod types;
pub mod world;

pub use types::*;
pub use world::{Event, World};

/// The kernel the upstream model mirrors.
pub const KERNEL_REF: &str =
    "Linux 7.1-rc1: io_uring/rsrc.c blob 650303626be6, io_uring/memmap.c blob 4f9b439319c4";

/// The errno values the registration path returns.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[repr(i32)]
#[allow(missing_docs)]
pub enum Errno {
    ENXIO = 6,
    EAGAIN = 11,
    ENOMEM = 12,
    EFAULT = 14,
    EBUSY = 16,
    EINVAL = 22,
    EOVERFLOW = 75,
}

impl Errno {
    /// The negative return value user space sees.
    pub fn neg(self) -> i32 {
        -(self as i32)
    }
    /// The errno of a negative return value, if it is one the path returns.
    pub fn from_neg(r: i32) -> Option<Errno> {
        Errno::parse(&r.to_string())
    }
    /// Parses `ENOMEM`, `-ENOMEM` or `-12`.
    pub fn parse(s: &str) -> Option<Errno> {
        let s = s.trim().trim_start_matches('-');
        [
            Errno::ENXIO,
            Errno::EAGAIN,
            Errno::ENOMEM,
            Errno::EFAULT,
            Errno::EBUSY,
            Errno::EINVAL,
            Errno::EOVERFLOW,
        ]
        .into_iter()
        .find(|e| format!("{e:?}") == s || (*e as i32).to_string() == s)
    }
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "-{self:?}")
    }
}

#[cfg(test)]
mod kbuf_tests;
#[cfg(test)]
mod tests;
