//! From a scenario's operations, whose addresses are positions in segments,
//! to concrete operations with every address and length resolved.

use super::build::{err, held_read, ConcreteOp, ScenarioError};
use super::format::*;
use crate::mm::Geometry;
use crate::model::{Iovec, ITER_DEST, ITER_SOURCE};

/// Resolves positions against the segments as they were mapped.
struct Resolver<'a> {
    /// Start address and size in bytes of each segment.
    segments: &'a [(u64, u64)],
    /// Head pfn and size in bytes of each folio.
    folios: &'a [(crate::mm::Pfn, u64)],
    geo: &'a Geometry,
}

impl Resolver<'_> {
    /// The address of a position; an offset may be a segment's end.
    fn pos(&self, p: &Pos, field: &str) -> Result<u64, ScenarioError> {
        let Some(&(start, bytes)) = self.segments.get(p.seg as usize) else {
            return err(
                format!("{field}.seg"),
                format!(
                    "segment {} does not exist ({} segments)",
                    p.seg,
                    self.segments.len()
                ),
            );
        };
        if p.off > bytes {
            return err(
                format!("{field}.off"),
                format!("offset {} is past the end of a {bytes}-byte segment", p.off),
            );
        }
        Ok(start + p.off)
    }

    /// Start address and length of a span.
    fn span(&self, sp: &Span, field: &str) -> Result<(u64, u64), ScenarioError> {
        let a = self.pos(&sp.start, &format!("{field}.start"))?;
        let b = self.pos(&sp.end, &format!("{field}.end"))?;
        if b < a {
            return err(format!("{field}.end"), "ends before it starts");
        }
        Ok((a, b - a))
    }

    fn iovec(&self, iov: &IovSpec, f: &str) -> Result<Iovec, ScenarioError> {
        Ok(match iov {
            IovSpec::Range { start, end } => {
                let sp = Span {
                    start: *start,
                    end: *end,
                };
                let (iov_base, iov_len) = self.span(&sp, f)?;
                Iovec { iov_base, iov_len }
            }
            IovSpec::Sized { start, len } => Iovec {
                iov_base: self.pos(start, &format!("{f}.start"))?,
                iov_len: len.bytes_at(self.geo),
            },
            IovSpec::Null { len } => Iovec {
                iov_base: 0,
                iov_len: len.bytes_at(self.geo),
            },
            IovSpec::Raw { base, len } => Iovec {
                iov_base: *base,
                iov_len: *len,
            },
        })
    }

    fn iovecs(&self, v: &[IovSpec], field: &str) -> Result<Vec<Iovec>, ScenarioError> {
        v.iter()
            .enumerate()
            .map(|(j, iov)| self.iovec(iov, &format!("{field}.iovecs[{j}]")))
            .collect()
    }

    fn op(&self, op: &Op, field: &str) -> Result<ConcreteOp, ScenarioError> {
        Ok(match op {
            Op::Register { iovecs } => {
                if iovecs.is_empty() {
                    return err(
                        format!("{field}.iovecs"),
                        "no iovecs (use register_sparse for an empty table)",
                    );
                }
                ConcreteOp::Register {
                    iovecs: self.iovecs(iovecs, field)?,
                }
            }
            Op::RegisterSparse { nr } => ConcreteOp::RegisterSparse { nr: *nr },
            Op::Update { offset, iovecs } => ConcreteOp::Update {
                offset: *offset,
                iovecs: self.iovecs(iovecs, field)?,
            },
            Op::Unregister => ConcreteOp::Unregister,
            Op::Import {
                slot,
                ddir,
                span,
                hold,
            } => {
                held_read(*ddir, *hold, field)?;
                let (buf_addr, len) = self.span(span, &format!("{field}.span"))?;
                ConcreteOp::Import {
                    slot: *slot,
                    ddir: iter_dir(*ddir),
                    buf_addr,
                    len,
                    hold: *hold,
                }
            }
            Op::Complete => ConcreteOp::Complete,
            &Op::Ring { ring } => ConcreteOp::Ring { ring },
            &Op::Clone {
                src,
                src_off,
                dst_off,
                nr,
                replace,
            } => ConcreteOp::Clone(crate::model::clone::IoUringCloneBuffers {
                src,
                src_off,
                dst_off,
                nr,
                replace,
            }),
            Op::KbufRegister {
                index,
                dir,
                bvecs,
                segments,
            } => ConcreteOp::KbufRegister {
                index: *index,
                rq: super::kbuf::request(
                    bvecs,
                    *segments,
                    *dir,
                    self.folios,
                    self.geo.page_shift,
                    field,
                )?,
            },
            &Op::KbufUnregister { index } => ConcreteOp::KbufUnregister { index },
            &Op::KbufImport {
                slot,
                ddir,
                off,
                len,
                hold,
            } => {
                held_read(ddir, hold, field)?;
                ConcreteOp::KbufImport {
                    slot,
                    ddir: iter_dir(ddir),
                    off,
                    len,
                    hold,
                }
            }
            Op::KbufReadv {
                slot,
                ddir,
                iovecs,
                hold,
            } => {
                held_read(*ddir, *hold, field)?;
                if iovecs.is_empty() {
                    return err(format!("{field}.iovecs"), "no iovecs");
                }
                ConcreteOp::KbufReadv {
                    slot: *slot,
                    ddir: iter_dir(*ddir),
                    iovecs: iovecs
                        .iter()
                        .map(|sp| Iovec {
                            iov_base: sp.off,
                            iov_len: sp.len,
                        })
                        .collect(),
                    hold: *hold,
                }
            }
            Op::Readv {
                slot,
                ddir,
                spans,
                hold,
            } => {
                held_read(*ddir, *hold, field)?;
                if spans.is_empty() {
                    return err(format!("{field}.spans"), "no spans");
                }
                let iovecs = spans
                    .iter()
                    .enumerate()
                    .map(|(j, sp)| {
                        let (iov_base, iov_len) = self.span(sp, &format!("{field}.spans[{j}]"))?;
                        Ok(Iovec { iov_base, iov_len })
                    })
                    .collect::<Result<_, ScenarioError>>()?;
                ConcreteOp::Readv {
                    slot: *slot,
                    ddir: iter_dir(*ddir),
                    iovecs,
                    hold: *hold,
                }
            }
        })
    }
}

/// The iterator direction of a transfer: a read fills the buffer.
fn iter_dir(d: Ddir) -> u32 {
    if d == Ddir::Read {
        ITER_DEST
    } else {
        ITER_SOURCE
    }
}

/// The operations of `s`, resolved against its mapped segments.
pub(super) fn ops(
    s: &Scenario,
    segments: &[(u64, u64)],
    folios: &[(crate::mm::Pfn, u64)],
    geo: &Geometry,
) -> Result<Vec<ConcreteOp>, ScenarioError> {
    let r = Resolver {
        segments,
        folios,
        geo,
    };
    s.ops
        .iter()
        .enumerate()
        .map(|(i, op)| r.op(op, &format!("op[{i}]")))
        .collect()
}
