//! The C integer types of the path's quantities, where they are narrower
//! than the `u64` the model holds them in.
//!
//! A value stored into an `unsigned int` field keeps its low 32 bits, as C
//! does, and the store is recorded ([`super::Event::Width`]); a shift of an
//! `int` by its width or more, or into its sign bit, is undefined in C and is
//! recorded the same way. What a version declares is in [`CTypes`], which
//! each variant names ([`crate::variants::Variant::c_types`]).
//!
//! Widths are absolute, LP64's: they are met at the real geometries (a
//! 16 GiB folio of ppc64 or arm64 with 64 KiB pages, a buffer over 4 GiB),
//! never at the exploration scale, whose sizes are far below 2^32.

use super::World;

/// A C integer type of LP64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CType {
    /// `int`.
    Int,
    /// `unsigned int`.
    UInt,
    /// `unsigned long`, `size_t`, `u64`.
    ULong,
}

impl CType {
    /// The type's name in C.
    pub fn name(self) -> &'static str {
        match self {
            CType::Int => "int",
            CType::UInt => "unsigned int",
            CType::ULong => "unsigned long",
        }
    }

    /// The largest value it holds.
    pub fn max(self) -> u64 {
        match self {
            CType::Int => i32::MAX as u64,
            CType::UInt => u32::MAX as u64,
            CType::ULong => u64::MAX,
        }
    }

    fn bits(self) -> u32 {
        match self {
            CType::Int | CType::UInt => 32,
            CType::ULong => 64,
        }
    }
}

/// The declared types of the quantities whose type changed between the
/// versions the model runs. The rest are as 7.1-rc1 and 7.2 both declare
/// them, where the function using them is modelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CTypes {
    /// `struct io_mapped_ubuf`'s `len`: `unsigned int` until ca76b56a2a2a,
    /// `size_t` after.
    pub imu_len: CType,
    /// The `1` of `folio_size = 1 << imu->folio_shift` in
    /// `io_vec_fill_bvec()`: an `int` in 7.1-rc1, `1UL` in the 7.2 tree.
    pub fill_bvec_one: CType,
}

impl CTypes {
    /// Linux 7.1-rc1, and every earlier version the model runs.
    pub const V7_1: CTypes = CTypes {
        imu_len: CType::UInt,
        fill_bvec_one: CType::Int,
    };
    /// Linux 7.2.
    pub const V7_2: CTypes = CTypes {
        imu_len: CType::ULong,
        fill_bvec_one: CType::ULong,
    };
}

/// `lhs = v` with `lhs` of type `ty`: the value C keeps. A value that does
/// not fit is recorded at `site` (`function: lhs`).
pub fn store(w: &mut World, site: &str, ty: CType, v: u64) -> u64 {
    if v <= ty.max() {
        return v;
    }
    w.width(format!(
        "{site} = {v:#x}: truncated to the {} bits of {}, {:#x}",
        ty.bits(),
        ty.name(),
        v as u32
    ));
    match ty {
        CType::Int | CType::UInt => v as u32 as u64,
        CType::ULong => v,
    }
}

/// `one << shift` with `one` of type `ty`, widened to `unsigned long`. A
/// shift C leaves undefined (by the type's width or more, or into an
/// `int`'s sign bit) is recorded at `site`, and the model goes on with the
/// value the expression means, `2^shift`: what a machine does after it
/// differs between architectures (x86 and arm64 shift by `shift % 32`,
/// ppc64 gives 0 from 32 up), and one finding is reported, not a guess at
/// its consequences.
pub fn one_shl(w: &mut World, site: &str, ty: CType, shift: u32) -> u64 {
    let room = match ty {
        CType::Int => 31,
        CType::UInt | CType::ULong => ty.bits(),
    };
    if shift >= room {
        w.width(format!(
            "{site}: 1 << {shift} with 1 an {}: undefined (the type has {} value bits)",
            ty.name(),
            room
        ));
    }
    1u64.checked_shl(shift).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Event;

    fn sites(w: &World) -> Vec<String> {
        w.events
            .iter()
            .filter_map(|e| match e {
                Event::Width { site } => Some(site.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_store_keeps_the_low_bits_and_records_the_truncation() {
        let mut w = World::new(crate::mm::Geometry::REAL, None, Default::default());
        assert_eq!(
            store(&mut w, "f: x", CType::UInt, u32::MAX as u64),
            u32::MAX as u64
        );
        assert!(sites(&w).is_empty());
        assert_eq!(
            store(&mut w, "f: x", CType::UInt, (5 << 30) + 7),
            (1 << 30) + 7
        );
        assert_eq!(store(&mut w, "f: y", CType::ULong, 1 << 40), 1 << 40);
        let s = sites(&w);
        assert_eq!(s.len(), 1, "{s:?}");
        assert!(
            s[0].starts_with("f: x = 0x140000007: truncated to the 32 bits"),
            "{s:?}"
        );
    }

    #[test]
    fn an_int_shift_into_the_sign_bit_or_past_the_width_is_recorded() {
        let mut w = World::new(crate::mm::Geometry::REAL, None, Default::default());
        assert_eq!(one_shl(&mut w, "f", CType::Int, 30), 1 << 30);
        assert!(sites(&w).is_empty());
        assert_eq!(one_shl(&mut w, "f", CType::Int, 31), 1 << 31);
        assert_eq!(one_shl(&mut w, "f", CType::Int, 34), 1 << 34);
        assert_eq!(one_shl(&mut w, "f", CType::ULong, 34), 1 << 34);
        assert_eq!(sites(&w).len(), 2);
    }
}
