//! The activation arena and safe, index-based views into it.
//!
//! One buffer holds every activation at the byte offset the memory planner chose. A node reads
//! its inputs and writes its output inside that same buffer, so Rust's aliasing rules are met by
//! splitting it around the output region (`split_at_mut`): the bytes before and after the output
//! are shared, the output is exclusive. An input that overlaps its node's output (an in-place op
//! the kernel cannot do in place) is first copied into a host-side staging buffer.
//!
//! Invariants: the backing store is 4-byte aligned and every float/int32 region starts at a
//! multiple of 4 (checked when the runtime is prepared), so typed views never fail at run time.

/// A byte range of the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub offset: usize,
    pub len: usize,
}

impl Region {
    pub fn end(&self) -> usize {
        self.offset + self.len
    }
    pub fn overlaps(&self, other: &Region) -> bool {
        self.len > 0 && other.len > 0 && self.offset < other.end() && other.offset < self.end()
    }
}

/// A 4-byte-aligned byte buffer of exactly `len` usable bytes.
#[derive(Debug, Clone)]
pub struct Arena {
    words: Vec<u32>,
    len: usize,
}

impl Arena {
    pub fn new(len: usize) -> Self {
        Arena {
            words: vec![0; len.div_ceil(4)],
            len,
        }
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }
}

/// Read-only access to everything in a buffer except one exclusively borrowed output region.
pub struct Shared<'a> {
    head: &'a [u8],
    tail: &'a [u8],
    tail_start: usize,
}

impl<'a> Shared<'a> {
    /// The bytes of `r`, or `None` if `r` overlaps the exclusive output region.
    pub fn get(&self, r: Region) -> Option<&'a [u8]> {
        if r.end() <= self.head.len() {
            self.head.get(r.offset..r.end())
        } else if r.offset >= self.tail_start {
            self.tail
                .get(r.offset - self.tail_start..r.end() - self.tail_start)
        } else if r.len == 0 {
            Some(&[])
        } else {
            None
        }
    }
}

/// Splits `buf` into shared access to all bytes outside `out` and exclusive access to `out`.
/// `None` if `out` does not lie inside `buf`.
pub fn split_out(buf: &mut [u8], out: Region) -> Option<(Shared<'_>, &mut [u8])> {
    if out.end() > buf.len() {
        return None;
    }
    let (head, rest) = buf.split_at_mut(out.offset);
    let (o, tail) = rest.split_at_mut(out.len);
    Some((
        Shared {
            head,
            tail,
            tail_start: out.end(),
        },
        o,
    ))
}

/// Typed views. `i8`/`u8` always succeed; wider types need alignment, which the prepare step
/// guarantees for arena regions and the runtime guarantees for its own constant copies.
pub fn as_i8(b: &[u8]) -> &[i8] {
    bytemuck::cast_slice(b)
}
pub fn as_i8_mut(b: &mut [u8]) -> &mut [i8] {
    bytemuck::cast_slice_mut(b)
}
pub fn as_f32(b: &[u8]) -> Option<&[f32]> {
    bytemuck::try_cast_slice(b).ok()
}
pub fn as_f32_mut(b: &mut [u8]) -> Option<&mut [f32]> {
    bytemuck::try_cast_slice_mut(b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_gives_disjoint_views() {
        let mut buf: Vec<u8> = (0..16).collect();
        let (shared, out) = split_out(&mut buf, Region { offset: 4, len: 4 }).unwrap();
        assert_eq!(
            shared.get(Region { offset: 0, len: 4 }),
            Some(&[0, 1, 2, 3][..])
        );
        assert_eq!(shared.get(Region { offset: 8, len: 2 }), Some(&[8, 9][..]));
        assert_eq!(shared.get(Region { offset: 2, len: 4 }), None);
        assert_eq!(shared.get(Region { offset: 7, len: 2 }), None);
        out.copy_from_slice(&[9, 9, 9, 9]);
        assert_eq!(&buf[4..8], &[9, 9, 9, 9]);
    }

    #[test]
    fn out_of_range_output_is_refused() {
        let mut buf = vec![0u8; 8];
        assert!(split_out(&mut buf, Region { offset: 6, len: 4 }).is_none());
    }

    #[test]
    fn arena_is_exact_and_aligned() {
        let mut a = Arena::new(10);
        assert_eq!(a.bytes().len(), 10);
        assert!(as_f32_mut(&mut a.bytes_mut()[4..8]).is_some());
    }
}
