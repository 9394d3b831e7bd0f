//! The `TFSR2` container: one self-describing blob per filter, in either the `TFSR1` row-bitmap
//! body or a denser 4-bit gap stream, whichever is smaller. This is the flash format that
//! deployed code executes in place (`tinyforge deploy`'s C kernels and the `*_tfsr2` kernels
//! of this crate walk it sequentially, with no row index); the host runtime decodes it once
//! into [`super::SparsePlan`].
//!
//! # Byte layout
//!
//! A filter is `rows` rows of `row_len` int8 weights (see [`super`] for which rows a conv,
//! depthwise or fully-connected filter has). With block size `b ∈ {1, 4}` a row has
//! `nb = ⌈row_len / b⌉` blocks; a block is *stored* when any of its weights is non-zero.
//!
//! ```text
//! offset 0  u8  layout: 1 = bitmap, 2 = gaps
//! offset 1  u8  block size b: 1 or 4
//! offset 2  u8  0 (reserved)
//! offset 3  u8  0 (reserved)
//! offset 4  body
//! ```
//!
//! **Bitmap body (layout 1)**: exactly the `TFSR1` rows (see [`super`]): per row a bitmap of
//! `⌈nb/8⌉` bytes (bit j = byte j/8, LSB first, set ⇔ block j stored) followed by `b` int8
//! values per stored block. Size `4 + rows·⌈nb/8⌉ + b·stored`.
//!
//! **Gap body (layout 2)**:
//!
//! ```text
//! u32 LE   stored  number of stored blocks in the whole filter
//! i8 × b·stored    the stored blocks' values, row by row, block by block
//! u8 × …           gap codes, two 4-bit codes per byte, low nibble first
//! ```
//!
//! The blocks of all rows form one sequence of `rows·nb` positions (position `r·nb + j` is
//! block `j` of row `r`). A cursor starts at position 0 and reads codes in order:
//! a code `g ≤ 14` skips `g` empty positions, then the block at the cursor is stored (it takes
//! the next `b` values) and the cursor moves past it; the code `15` skips 15 empty positions
//! and stores nothing. Decoding ends when `stored` blocks have been read; empty positions after
//! the last stored block have no codes. An odd number of codes leaves the last byte's high
//! nibble 0. Size `4 + 4 + b·stored + ⌈codes/2⌉`, with `codes = stored + escapes`.
//!
//! At density `d` (unstructured, `b = 1`) the bitmap costs `1/8 + d` bytes per weight and the
//! gaps about `1.5·d` (plus an escape per 15-zero run): gaps win below ≈ 25 % density and on
//! short rows (depthwise taps), bitmaps above. [`smallest_encoding`] picks by exact size.
//!
//! Invariants every accepted blob satisfies ([`Tfsr2::check`]): reserved bytes 0; bitmap bits
//! past a row's end clear; gap cursors stay inside `rows·nb`; no trailing bytes; values of a
//! last partial block past `row_len` are 0.

use super::{bitmap_bytes, SparseFilter};
use crate::{KernelError, KernelResult};

/// Bytes before the body.
pub const TFSR2_HEADER: usize = 4;
/// Layout byte of the row-bitmap body.
pub const LAYOUT_BITMAP: u8 = 1;
/// Layout byte of the gap-stream body.
pub const LAYOUT_GAPS: u8 = 2;

/// The body kind of a `TFSR2` blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `TFSR1` row bitmaps.
    Bitmap,
    /// One stream of 4-bit gap codes.
    Gaps,
}

/// Layout and block size of a `TFSR2` blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoding {
    pub layout: Layout,
    /// 1 (unstructured) or 4 (1×4 blocks along the row).
    pub block: usize,
}

fn check_dims(dense_len: usize, rows: usize, row_len: usize, block: usize) -> KernelResult {
    if rows == 0 || row_len == 0 || !(block == 1 || block == 4) {
        return Err(KernelError::BadParams);
    }
    if rows.checked_mul(row_len) != Some(dense_len) {
        return Err(KernelError::BufferSize);
    }
    Ok(())
}

/// Stored-block flags of `dense` in position order (`rows·nb` of them).
fn stored_blocks<'a>(
    dense: &'a [i8],
    row_len: usize,
    block: usize,
) -> impl Iterator<Item = (bool, &'a [i8])> + 'a {
    dense
        .chunks(row_len)
        .flat_map(move |row| row.chunks(block).map(|b| (b.iter().any(|&v| v != 0), b)))
}

/// Number of gap codes for the stored flags (escapes included).
fn gap_codes(flags: impl Iterator<Item = bool>) -> (usize, usize) {
    let (mut codes, mut stored, mut run) = (0usize, 0usize, 0usize);
    for f in flags {
        if f {
            codes += run / 15 + 1;
            stored += 1;
            run = 0;
        } else {
            run += 1;
        }
    }
    (codes, stored)
}

/// Bytes [`encode_tfsr2`] writes for `dense` (`rows × row_len`) in encoding `e`.
pub fn tfsr2_len(
    dense: &[i8],
    rows: usize,
    row_len: usize,
    e: Encoding,
) -> Result<usize, KernelError> {
    check_dims(dense.len(), rows, row_len, e.block)?;
    let b = e.block;
    Ok(match e.layout {
        Layout::Bitmap => TFSR2_HEADER + super::encoded_len(dense, rows, row_len, b)?,
        Layout::Gaps => {
            let (codes, stored) = gap_codes(stored_blocks(dense, row_len, b).map(|(f, _)| f));
            TFSR2_HEADER + 4 + b * stored + codes.div_ceil(2)
        }
    })
}

/// The smallest `TFSR2` encoding of `dense` and its size; `blocks` allows 1×4 blocks (they
/// only pay on block-pruned filters, and store the zeros inside kept blocks).
pub fn smallest_encoding(
    dense: &[i8],
    rows: usize,
    row_len: usize,
    blocks: bool,
) -> Result<(Encoding, usize), KernelError> {
    let mut best: Option<(Encoding, usize)> = None;
    for block in [1, 4] {
        if block == 4 && !blocks {
            continue;
        }
        for layout in [Layout::Bitmap, Layout::Gaps] {
            let e = Encoding { layout, block };
            let n = tfsr2_len(dense, rows, row_len, e)?;
            if best.is_none_or(|(_, m)| n < m) {
                best = Some((e, n));
            }
        }
    }
    best.ok_or(KernelError::BadParams)
}

/// Encodes `dense` into `out` (exactly [`tfsr2_len`] bytes).
pub fn encode_tfsr2(
    dense: &[i8],
    rows: usize,
    row_len: usize,
    e: Encoding,
    out: &mut [u8],
) -> KernelResult {
    if out.len() != tfsr2_len(dense, rows, row_len, e)? {
        return Err(KernelError::BufferSize);
    }
    let b = e.block;
    out[1] = b as u8;
    out[2] = 0;
    out[3] = 0;
    match e.layout {
        Layout::Bitmap => {
            out[0] = LAYOUT_BITMAP;
            super::encode(dense, rows, row_len, b, &mut out[TFSR2_HEADER..])
        }
        Layout::Gaps => {
            out[0] = LAYOUT_GAPS;
            let (codes_n, stored) = gap_codes(stored_blocks(dense, row_len, b).map(|(f, _)| f));
            let stored32 = u32::try_from(stored).map_err(|_| KernelError::BadParams)?;
            out[4..8].copy_from_slice(&stored32.to_le_bytes());
            let (vals, codes) = out[8..].split_at_mut(b * stored);
            codes.fill(0);
            debug_assert_eq!(codes.len(), codes_n.div_ceil(2));
            let (mut v, mut c, mut run) = (0usize, 0usize, 0usize);
            let mut put = |code: u8, c: &mut usize| {
                codes[*c / 2] |= code << (4 * (*c % 2));
                *c += 1;
            };
            for (f, blk) in stored_blocks(dense, row_len, b) {
                if !f {
                    run += 1;
                    continue;
                }
                while run >= 15 {
                    put(15, &mut c);
                    run -= 15;
                }
                put(run as u8, &mut c);
                run = 0;
                for k in 0..b {
                    vals[v + k] = blk.get(k).copied().unwrap_or(0) as u8;
                }
                v += b;
            }
            Ok(())
        }
    }
}

/// A `TFSR2` blob, borrowed, with the filter's row geometry (which the blob does not repeat:
/// the model's tensor shape gives it).
#[derive(Debug, Clone, Copy)]
pub struct Tfsr2<'a> {
    pub rows: usize,
    pub row_len: usize,
    pub data: &'a [u8],
}

impl<'a> Tfsr2<'a> {
    /// Layout and block size, from the header.
    pub fn encoding(&self) -> Result<Encoding, KernelError> {
        let h = self
            .data
            .get(..TFSR2_HEADER)
            .ok_or(KernelError::BufferSize)?;
        let layout = match h[0] {
            LAYOUT_BITMAP => Layout::Bitmap,
            LAYOUT_GAPS => Layout::Gaps,
            _ => return Err(KernelError::BadParams),
        };
        let block = h[1] as usize;
        if !(block == 1 || block == 4) || h[2] != 0 || h[3] != 0 {
            return Err(KernelError::BadParams);
        }
        Ok(Encoding { layout, block })
    }

    /// Validates the whole blob (see the module invariants).
    pub fn check(&self) -> KernelResult {
        let e = self.encoding()?;
        if self.rows == 0 || self.row_len == 0 {
            return Err(KernelError::BadParams);
        }
        match e.layout {
            Layout::Bitmap => self.bitmap_body(e.block)?.check(),
            Layout::Gaps => {
                let mut ok = Ok(());
                let (b, k) = (e.block, self.row_len);
                self.walk_gaps(e.block, |_, col, vals| {
                    // Padding values of a last partial block must be zero.
                    for (i, &v) in vals.iter().enumerate() {
                        if col * b + i >= k && v != 0 {
                            ok = Err(KernelError::BadParams);
                        }
                    }
                })?;
                ok
            }
        }
    }

    fn bitmap_body(&self, block: usize) -> Result<SparseFilter<'a>, KernelError> {
        Ok(SparseFilter {
            rows: self.rows,
            row_len: self.row_len,
            block,
            data: self
                .data
                .get(TFSR2_HEADER..)
                .ok_or(KernelError::BufferSize)?,
        })
    }

    /// Walks a gap body: `f(row, block_col, values)` per stored block, checking bounds and
    /// that the blob has no trailing bytes.
    fn walk_gaps(&self, b: usize, mut f: impl FnMut(usize, usize, &'a [u8])) -> KernelResult {
        let data = self.data;
        let stored = u32::from_le_bytes(
            data.get(4..8)
                .ok_or(KernelError::BufferSize)?
                .try_into()
                .map_err(|_| KernelError::BufferSize)?,
        ) as usize;
        let nb = self.row_len.div_ceil(b);
        let total = self.rows.checked_mul(nb).ok_or(KernelError::BadParams)?;
        let vend = stored
            .checked_mul(b)
            .and_then(|n| n.checked_add(8))
            .ok_or(KernelError::BufferSize)?;
        let vals = data.get(8..vend).ok_or(KernelError::BufferSize)?;
        let codes = &data[vend..];
        let (mut pos, mut c, mut read) = (0usize, 0usize, 0usize);
        while read < stored {
            let byte = *codes.get(c / 2).ok_or(KernelError::BufferSize)?;
            let g = ((byte >> (4 * (c % 2))) & 15) as usize;
            c += 1;
            pos += g;
            if g == 15 {
                continue;
            }
            if pos >= total {
                return Err(KernelError::BadParams);
            }
            f(pos / nb, pos % nb, &vals[read * b..read * b + b]);
            read += 1;
            pos += 1;
        }
        if codes.len() != c.div_ceil(2) {
            return Err(KernelError::BufferSize);
        }
        if c % 2 == 1 && codes[c / 2] >> 4 != 0 {
            return Err(KernelError::BadParams);
        }
        Ok(())
    }

    /// Calls `f(row, block_col, values)` for every stored block in position order (rows in
    /// order, blocks increasing within a row), reading the blob in place with no allocation.
    /// The blob should have passed [`Tfsr2::check`]; a malformed one gives an error, never a
    /// panic, but `f` may have been called for a prefix of it.
    pub fn for_each_block(&self, mut f: impl FnMut(usize, usize, &'a [u8])) -> KernelResult {
        let e = self.encoding()?;
        let b = e.block;
        match e.layout {
            Layout::Bitmap => {
                let data = self.bitmap_body(b)?.data;
                let bm = bitmap_bytes(self.row_len, b);
                let mut pos = 0;
                for row in 0..self.rows {
                    let bitmap = data.get(pos..pos + bm).ok_or(KernelError::BufferSize)?;
                    let kept: usize = bitmap.iter().map(|x| x.count_ones() as usize).sum();
                    let vals = data
                        .get(pos + bm..pos + bm + kept * b)
                        .ok_or(KernelError::BufferSize)?;
                    let mut v = 0;
                    super::for_each_set(bitmap, |j| {
                        f(row, j, &vals[v..v + b]);
                        v += b;
                    });
                    pos += bm + kept * b;
                }
                Ok(())
            }
            Layout::Gaps => self.walk_gaps(b, f),
        }
    }

    /// Calls `f(row, col, weight)` for every non-zero weight, rows in order and columns
    /// increasing within a row. Validates the blob first.
    pub fn for_each_nonzero(&self, mut f: impl FnMut(usize, usize, i8)) -> KernelResult {
        self.check()?;
        let e = self.encoding()?;
        let (b, k) = (e.block, self.row_len);
        let mut emit = |row: usize, col: usize, vals: &[u8]| {
            for (i, &v) in vals.iter().enumerate() {
                let kk = col * b + i;
                if kk < k && v != 0 {
                    f(row, kk, v as i8);
                }
            }
        };
        match e.layout {
            Layout::Bitmap => {
                let body = self.bitmap_body(b)?;
                let bm = bitmap_bytes(k, b);
                let mut pos = 0;
                for row in 0..self.rows {
                    let bitmap = &body.data[pos..pos + bm];
                    let mut v = pos + bm;
                    super::for_each_set(bitmap, |j| {
                        emit(row, j, &body.data[v..v + b]);
                        v += b;
                    });
                    pos = v;
                }
                Ok(())
            }
            Layout::Gaps => self.walk_gaps(b, emit),
        }
    }

    /// Number of non-zero weights (validates the blob).
    pub fn nonzeros(&self) -> Result<usize, KernelError> {
        let mut n = 0;
        self.for_each_nonzero(|_, _, _| n += 1)?;
        Ok(n)
    }

    /// Decodes into dense `rows × row_len` int8 weights.
    pub fn decode(&self, out: &mut [i8]) -> KernelResult {
        if Some(out.len()) != self.rows.checked_mul(self.row_len) {
            return Err(KernelError::BufferSize);
        }
        out.fill(0);
        let k = self.row_len;
        self.for_each_nonzero(|r, c, w| out[r * k + c] = w)
    }
}

/// Reorders a depthwise filter `[1, KH, KW, C]` (`taps = KH·KW` rows of `C`) into the
/// encoding's rows: one row of `taps` weights per output channel, taps in `(ky, kx)` order.
pub fn depthwise_rows(filter: &[i8], taps: usize, channels: usize, out: &mut [i8]) -> KernelResult {
    if taps.checked_mul(channels) != Some(filter.len()) || out.len() != filter.len() {
        return Err(KernelError::BufferSize);
    }
    for t in 0..taps {
        for c in 0..channels {
            out[c * taps + t] = filter[t * channels + c];
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize, keep_one_in: u32, seed: u32) -> Vec<i8> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
                if (s >> 16).is_multiple_of(keep_one_in) {
                    (((s >> 4) % 255) as i32 - 127) as i8
                } else {
                    0
                }
            })
            .collect()
    }

    #[test]
    fn every_encoding_roundtrips() {
        for &(rows, k, keep) in &[
            (5, 13, 3),
            (16, 9, 5),
            (8, 64, 5),
            (3, 70, 40),
            (2, 7, 1),
            (4, 30, 1000),
        ] {
            let w = sample(rows * k, keep, (rows * k) as u32);
            for block in [1, 4] {
                for layout in [Layout::Bitmap, Layout::Gaps] {
                    let e = Encoding { layout, block };
                    let n = tfsr2_len(&w, rows, k, e).unwrap();
                    let mut blob = vec![0xAAu8; n];
                    encode_tfsr2(&w, rows, k, e, &mut blob).unwrap();
                    let t = Tfsr2 {
                        rows,
                        row_len: k,
                        data: &blob,
                    };
                    assert_eq!(t.encoding().unwrap(), e);
                    t.check().unwrap();
                    let mut back = vec![1i8; w.len()];
                    t.decode(&mut back).unwrap();
                    assert_eq!(back, w, "{rows}x{k} {e:?}");
                    assert_eq!(t.nonzeros().unwrap(), w.iter().filter(|&&v| v != 0).count());
                }
            }
        }
    }

    #[test]
    fn exact_gap_layout() {
        // Row 0: [0 0 5 0], row 1: [0 ... (20 zeros)] then -3 at column 2 of row 5 (len 4):
        // positions 2 and 22 → codes 2, then 19 zeros = 15 (escape) + 4.
        let mut w = vec![0i8; 24];
        w[2] = 5;
        w[22] = -3;
        let e = Encoding {
            layout: Layout::Gaps,
            block: 1,
        };
        let mut blob = vec![0u8; tfsr2_len(&w, 6, 4, e).unwrap()];
        encode_tfsr2(&w, 6, 4, e, &mut blob).unwrap();
        assert_eq!(blob, [2, 1, 0, 0, 2, 0, 0, 0, 5, 0xFD, 0xF2, 0x04]);
        let e = Encoding {
            layout: Layout::Bitmap,
            block: 1,
        };
        let mut blob = vec![0u8; tfsr2_len(&w, 6, 4, e).unwrap()];
        encode_tfsr2(&w, 6, 4, e, &mut blob).unwrap();
        assert_eq!(blob, [1, 1, 0, 0, 0b100, 5, 0, 0, 0, 0, 0b100, 0xFD]);
    }

    #[test]
    fn smallest_picks_gaps_when_sparse_and_bitmap_when_dense() {
        let sparse = sample(64 * 64, 10, 1);
        let (e, n) = smallest_encoding(&sparse, 64, 64, false).unwrap();
        assert_eq!(e.layout, Layout::Gaps);
        assert!(n < 64 * 64 / 5);
        let dense = sample(64 * 64, 2, 2);
        let (e, _) = smallest_encoding(&dense, 64, 64, true).unwrap();
        assert_eq!(
            e,
            Encoding {
                layout: Layout::Bitmap,
                block: 1
            }
        );
    }

    #[test]
    fn corrupt_blobs_are_rejected() {
        let w = sample(6 * 20, 4, 9);
        for layout in [Layout::Bitmap, Layout::Gaps] {
            let e = Encoding { layout, block: 1 };
            let mut blob = vec![0u8; tfsr2_len(&w, 6, 20, e).unwrap()];
            encode_tfsr2(&w, 6, 20, e, &mut blob).unwrap();
            let t = |d: &[u8]| {
                Tfsr2 {
                    rows: 6,
                    row_len: 20,
                    data: d,
                }
                .check()
            };
            assert!(t(&blob).is_ok());
            assert!(t(&blob[..blob.len() - 1]).is_err());
            let mut longer = blob.clone();
            longer.push(0);
            assert!(t(&longer).is_err());
            let mut bad = blob.clone();
            bad[0] = 3;
            assert!(t(&bad).is_err());
            let mut bad = blob.clone();
            bad[2] = 1;
            assert!(t(&bad).is_err());
            assert!(t(&[]).is_err());
        }
        // A gap stream that runs past the last position.
        let blob = [2u8, 1, 0, 0, 1, 0, 0, 0, 7, 0x0F];
        let t = Tfsr2 {
            rows: 1,
            row_len: 10,
            data: &blob,
        };
        assert_eq!(t.check(), Err(KernelError::BadParams));
    }

    #[test]
    fn depthwise_rows_transpose_taps() {
        // taps 2, channels 3: [t0c0 t0c1 t0c2 t1c0 t1c1 t1c2]
        let f = [1i8, 2, 3, 4, 5, 6];
        let mut out = [0i8; 6];
        depthwise_rows(&f, 2, 3, &mut out).unwrap();
        assert_eq!(out, [1, 4, 2, 5, 3, 6]);
        assert!(depthwise_rows(&f, 4, 3, &mut out).is_err());
    }
}
