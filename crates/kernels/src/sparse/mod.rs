//! Sparse int8 weights: the tinyforge sparse filter formats and the conv / depthwise /
//! fully-connected kernels that execute them, skipping zero weights, bit-exact with the dense
//! int8 kernels.
//!
//! # Rows
//!
//! Every format views a filter as `rows` rows of `row_len` int8 weights:
//!
//! | layer | filter shape | rows | row `r` holds |
//! |---|---|---|---|
//! | conv (ungrouped) | `[O, KH, KW, I]` | `O` | `w[r, ·, ·, ·]` in memory order, `row_len = KH·KW·I` |
//! | fully connected | `[O, I]` | `O` | `w[r, ·]`, `row_len = I` |
//! | depthwise | `[1, KH, KW, C·M]` | `C·M` | taps `w[0, ky, kx, r]` in `(ky, kx)` order, `row_len = KH·KW` ([`depthwise_rows`]) |
//!
//! # Formats
//!
//! * **`TFSR2`** ([`format`]): the flash format that deploy emits and the runtime reads — a
//!   4-byte header (layout, block size) then either the `TFSR1` row-bitmap body or a 4-bit
//!   gap stream, whichever is smaller ([`smallest_encoding`]). The exact byte layout is in
//!   the [`format`] module docs. `tinyforge deploy` stores exactly this blob (header
//!   included, no extra row table) for each conv / depthwise / fully-connected layer it keeps
//!   sparse — at most half the dense bytes, conv / FC rows of at least 32 weights, depthwise
//!   not in place — in both the C library and the Rust crate.
//! * **`TFSR1`** (tinyforge sparse rows, version 1): the row-bitmap body alone, kept as is.
//!   With block size `b ∈ {1, 4}` (1: unstructured; 4: 1×4 blocks along the row) a row has
//!   `nb = ⌈row_len / b⌉` blocks and is stored as
//!
//! ```text
//! bitmap : ⌈nb / 8⌉ bytes; bit j (byte j / 8, LSB first) is set ⇔ block j holds a non-zero
//! values : b int8 values per set block, in block order (a last partial block is zero-padded)
//! ```
//!
//! Rows follow each other with no padding and no index: a row's start is implied. Size:
//! `rows·⌈nb/8⌉ + b·(kept blocks)` bytes.
//!
//! # Execution
//!
//! The host kernels (`*_sparse_plan`) run a [`SparsePlan`] (per-row column/value lists, built
//! once by the caller from a dense filter or a `TFSR2` blob); see [`conv2d_s8_sparse_plan`]
//! for the tiled sparse × dense product. [`conv2d_s8_sparse`] and
//! [`fully_connected_s8_sparse`] execute a `TFSR1` body ([`SparseFilter`]) straight from
//! flash with no allocation; [`conv2d_s8_tfsr2`], [`depthwise_conv2d_s8_tfsr2`] and
//! [`fully_connected_s8_tfsr2`] do the same from a whole `TFSR2` blob (either layout), which
//! is what the generated no_std crate calls. Exactness: int32 accumulation of the same products in another
//! order gives the same bits (wrapping arithmetic is associative), and requantization is the
//! dense kernels'; so outputs equal the dense kernels' byte for byte (tested here against the
//! reference kernels over random sparse filters, shapes and strides).
//!
//! Neighbours: `tinyforge-compress` prunes the weights and reports encoded sizes;
//! `tinyforge-runtime` builds plans at prepare time and picks sparse or dense per layer by a
//! measured cost model; `tinyforge-deploy` emits `TFSR2` blobs for its C kernels (which walk
//! them in place, `crates/deploy/c/tf_kernels.c`) and for the `*_tfsr2` kernels here.

mod conv2d_s8_sparse;
mod conv2d_s8_sparse_plan;
mod depthwise_conv2d_s8_sparse_plan;
pub mod format;
mod fully_connected_s8_sparse;
mod fully_connected_s8_sparse_plan;
mod plan;
mod shared;
mod tfsr2_kernels;

pub use conv2d_s8_sparse::{conv2d_s8_sparse, conv2d_s8_sparse_scratch, SPARSE_TILE};
pub use conv2d_s8_sparse_plan::{conv2d_s8_sparse_plan, conv2d_s8_sparse_plan_scratch, PLAN_TILE};
pub use depthwise_conv2d_s8_sparse_plan::depthwise_conv2d_s8_sparse_plan;
pub use format::{
    depthwise_rows, encode_tfsr2, smallest_encoding, tfsr2_len, Encoding, Layout, Tfsr2,
    LAYOUT_BITMAP, LAYOUT_GAPS, TFSR2_HEADER,
};
pub use fully_connected_s8_sparse::fully_connected_s8_sparse;
pub use fully_connected_s8_sparse_plan::fully_connected_s8_sparse_plan;
pub use plan::{build_plan, build_plan_tfsr2, plan_len, plan_len_tfsr2, SparsePlan};
pub use tfsr2_kernels::{conv2d_s8_tfsr2, depthwise_conv2d_s8_tfsr2, fully_connected_s8_tfsr2};

use crate::{KernelError, KernelResult};

/// A filter in the `TFSR1` row-bitmap encoding (see the module docs), borrowed.
#[derive(Debug, Clone, Copy)]
pub struct SparseFilter<'a> {
    /// Output rows `O`.
    pub rows: usize,
    /// Weights per row `K`.
    pub row_len: usize,
    /// Block size along the row: 1 or 4.
    pub block: usize,
    /// The encoded bytes.
    pub data: &'a [u8],
}

/// Bitmap bytes of one row.
#[inline]
pub const fn bitmap_bytes(row_len: usize, block: usize) -> usize {
    row_len.div_ceil(block).div_ceil(8)
}

fn check_shape(rows: usize, row_len: usize, block: usize) -> KernelResult {
    if rows == 0 || row_len == 0 || !(block == 1 || block == 4) {
        return Err(KernelError::BadParams);
    }
    Ok(())
}

/// Bytes [`encode`] writes for `dense` (`rows × row_len` int8 weights).
pub fn encoded_len(
    dense: &[i8],
    rows: usize,
    row_len: usize,
    block: usize,
) -> Result<usize, KernelError> {
    check_shape(rows, row_len, block)?;
    if rows.checked_mul(row_len) != Some(dense.len()) {
        return Err(KernelError::BufferSize);
    }
    let kept: usize = dense
        .chunks(row_len)
        .map(|row| {
            row.chunks(block)
                .filter(|b| b.iter().any(|&v| v != 0))
                .count()
        })
        .sum();
    Ok(rows * bitmap_bytes(row_len, block) + kept * block)
}

/// Encodes `dense` into `out` (exactly [`encoded_len`] bytes).
pub fn encode(
    dense: &[i8],
    rows: usize,
    row_len: usize,
    block: usize,
    out: &mut [u8],
) -> KernelResult {
    if out.len() != encoded_len(dense, rows, row_len, block)? {
        return Err(KernelError::BufferSize);
    }
    let bm = bitmap_bytes(row_len, block);
    let mut pos = 0;
    for row in dense.chunks(row_len) {
        let (bitmap, rest) = out[pos..].split_at_mut(bm);
        bitmap.fill(0);
        let mut vpos = 0;
        for (j, blk) in row.chunks(block).enumerate() {
            if blk.iter().any(|&v| v != 0) {
                bitmap[j / 8] |= 1 << (j % 8);
                for e in 0..block {
                    rest[vpos + e] = blk.get(e).copied().unwrap_or(0) as u8;
                }
                vpos += block;
            }
        }
        pos += bm + vpos;
    }
    Ok(())
}

impl SparseFilter<'_> {
    /// Checks that the bitmaps and value counts add up to exactly `data.len()` bytes and that
    /// bitmap bits past the row end are clear, so kernels can walk the encoding without
    /// further bounds checks on the encoding (values of a padded last block are ignored).
    pub fn check(&self) -> KernelResult {
        check_shape(self.rows, self.row_len, self.block)?;
        let bm = bitmap_bytes(self.row_len, self.block);
        let nb = self.row_len.div_ceil(self.block);
        let mut pos = 0usize;
        for _ in 0..self.rows {
            let bitmap = self
                .data
                .get(pos..pos + bm)
                .ok_or(KernelError::BufferSize)?;
            let mut kept = 0usize;
            for (i, &byte) in bitmap.iter().enumerate() {
                let valid = nb - i * 8;
                if valid < 8 && byte >> valid != 0 {
                    return Err(KernelError::BadParams);
                }
                kept += byte.count_ones() as usize;
            }
            pos += bm + kept * self.block;
            if pos > self.data.len() {
                return Err(KernelError::BufferSize);
            }
        }
        if pos != self.data.len() {
            return Err(KernelError::BufferSize);
        }
        Ok(())
    }

    /// Number of non-zero weights.
    pub fn nonzeros(&self) -> usize {
        let mut n = 0;
        self.for_each_row(|_, vals| n += vals.iter().filter(|&&v| v != 0).count());
        n
    }

    /// Decodes into dense `rows × row_len` int8 weights (`check` first).
    pub fn decode(&self, out: &mut [i8]) -> KernelResult {
        self.check()?;
        if Some(out.len()) != self.rows.checked_mul(self.row_len) {
            return Err(KernelError::BufferSize);
        }
        out.fill(0);
        let (k, b) = (self.row_len, self.block);
        let mut o = 0;
        self.for_each_row(|bitmap, vals| {
            let row = &mut out[o * k..(o + 1) * k];
            let mut v = 0;
            for_each_set(bitmap, |j| {
                for e in 0..b {
                    if let Some(w) = row.get_mut(j * b + e) {
                        *w = vals[v + e] as i8;
                    }
                }
                v += b;
            });
            o += 1;
        });
        Ok(())
    }

    /// Calls `f(bitmap, values)` for every row (the encoding must have passed `check`).
    fn for_each_row(&self, mut f: impl FnMut(&[u8], &[u8])) {
        let bm = bitmap_bytes(self.row_len, self.block);
        let mut pos = 0;
        for _ in 0..self.rows {
            let bitmap = &self.data[pos..pos + bm];
            let kept: usize = bitmap.iter().map(|b| b.count_ones() as usize).sum();
            let vals = &self.data[pos + bm..pos + bm + kept * self.block];
            f(bitmap, vals);
            pos += bm + kept * self.block;
        }
    }
}

/// Calls `f(j)` for every set bit `j` of `bitmap`, in increasing order.
#[inline(always)]
pub(crate) fn for_each_set(bitmap: &[u8], mut f: impl FnMut(usize)) {
    for (i, &byte) in bitmap.iter().enumerate() {
        let mut bits = byte;
        while bits != 0 {
            f(i * 8 + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rows: usize, k: usize, seed: u32) -> Vec<i8> {
        let mut s = seed;
        (0..rows * k)
            .map(|_| {
                s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let r = (s >> 16) % 10;
                if r < 7 {
                    0
                } else {
                    ((s >> 8) % 255) as i8
                }
            })
            .collect()
    }

    #[test]
    fn roundtrip_and_size() {
        for &(rows, k, b) in &[(5, 13, 1), (3, 64, 1), (4, 18, 4), (2, 9, 4), (1, 1, 1)] {
            let w = sample(rows, k, 7 + k as u32);
            let n = encoded_len(&w, rows, k, b).unwrap();
            let mut enc = vec![0u8; n];
            encode(&w, rows, k, b, &mut enc).unwrap();
            let f = SparseFilter {
                rows,
                row_len: k,
                block: b,
                data: &enc,
            };
            f.check().unwrap();
            let mut back = vec![1i8; w.len()];
            f.decode(&mut back).unwrap();
            assert_eq!(back, w);
            assert_eq!(f.nonzeros(), w.iter().filter(|&&v| v != 0).count());
        }
        // 80 % zeros, unstructured: bitmap (1/8) + values (1/5) of the dense bytes.
        let w: Vec<i8> = (0..640).map(|i| if i % 5 == 0 { 3 } else { 0 }).collect();
        assert_eq!(encoded_len(&w, 10, 64, 1).unwrap(), 10 * 8 + 128);
    }

    #[test]
    fn corrupt_encodings_are_rejected() {
        let w = sample(3, 16, 3);
        let mut enc = vec![0u8; encoded_len(&w, 3, 16, 1).unwrap()];
        encode(&w, 3, 16, 1, &mut enc).unwrap();
        let short = SparseFilter {
            rows: 3,
            row_len: 16,
            block: 1,
            data: &enc[..enc.len() - 1],
        };
        assert_eq!(short.check(), Err(KernelError::BufferSize));
        let mut bad = enc.clone();
        bad[0] = 0xff;
        bad[1] = 0xff;
        let f = SparseFilter {
            rows: 3,
            row_len: 16,
            block: 1,
            data: &bad,
        };
        assert!(f.check().is_err());
        // Padding bits past the row end must be clear.
        let pad = [0b1000_0000u8];
        let f = SparseFilter {
            rows: 1,
            row_len: 7,
            block: 1,
            data: &pad,
        };
        assert_eq!(f.check(), Err(KernelError::BadParams));
        let f = SparseFilter {
            rows: 1,
            row_len: 8,
            block: 3,
            data: &pad,
        };
        assert_eq!(f.check(), Err(KernelError::BadParams));
    }
}
