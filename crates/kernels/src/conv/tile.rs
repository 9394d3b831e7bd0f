//! The output stage shared by the GEMM-like fast kernels (1×1 conv, patch conv, FC).
//!
//! One call produces every output channel of one or two "pixels" (output rows): the caller
//! supplies the 2×4 and 1×1 dot-product closures, this stage gathers the accumulators of a
//! block of up to [`OC_BLOCK`] channels on the stack, adds the bias and requantizes the block
//! in one branch-free loop ([`requantize_s8_lane`]) that LLVM vectorizes across channels —
//! on small layers requantization otherwise costs as much as the dot products.

use super::conv2d_s8::OutSink;
use super::dot::{dot1, dot1_p, dot2x4, dot2x4_p, dot4, dot4_p};
use super::quant::requantize_s8_lane;

/// Output channels per requantization block (2 × 64 i32 accumulators on the stack).
pub(crate) const OC_BLOCK: usize = 64;

/// Requantization parameters of the stage: per-channel slices, or length 1 for per-tensor.
/// Dots of one or two i8 rows (`x + offset` widened on the fly) against `[O, K]` weights.
pub(crate) struct I8Rows<'a> {
    pub x0: &'a [i8],
    pub x1: &'a [i8],
    pub off: i16,
    pub pair: bool,
    pub filter: &'a [i8],
    pub k: usize,
}

impl Dots for I8Rows<'_> {
    #[inline(always)]
    fn dot4(&self, o: usize) -> [[i32; 4]; 2] {
        let k = self.k;
        let w = core::array::from_fn(|j| &self.filter[(o + j) * k..(o + j + 1) * k]);
        if self.pair {
            dot2x4(self.x0, self.x1, self.off, w)
        } else {
            [dot4(self.x0, self.off, w), [0; 4]]
        }
    }
    #[inline(always)]
    fn dot1(&self, r: usize, o: usize) -> i32 {
        let x = if r == 0 { self.x0 } else { self.x1 };
        dot1(x, self.off, &self.filter[o * self.k..(o + 1) * self.k])
    }
}

/// Dots of one or two pre-widened i16 patches against `[O, K]` weights.
pub(crate) struct I16Rows<'a> {
    /// The intrinsic 2×4 tile when the CPU has AVX2; `None` runs the portable loops.
    pub avx2: Option<super::cpu::Avx2>,
    pub x0: &'a [i16],
    pub x1: &'a [i16],
    pub pair: bool,
    pub filter: &'a [i8],
    pub k: usize,
}

impl Dots for I16Rows<'_> {
    #[inline(always)]
    fn dot4(&self, o: usize) -> [[i32; 4]; 2] {
        let k = self.k;
        let w = core::array::from_fn(|j| &self.filter[(o + j) * k..(o + j + 1) * k]);
        match (self.pair, self.avx2) {
            (true, Some(simd)) => simd.dot2x4_p(self.x0, self.x1, w),
            (true, None) => dot2x4_p(self.x0, self.x1, w),
            (false, Some(simd)) => [simd.dot1x4_p(self.x0, w), [0; 4]],
            _ => [dot4_p(self.x0, w), [0; 4]],
        }
    }
    #[inline(always)]
    fn dot1(&self, r: usize, o: usize) -> i32 {
        let x = if r == 0 { self.x0 } else { self.x1 };
        dot1_p(x, &self.filter[o * self.k..(o + 1) * self.k])
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Requant<'a> {
    pub multiplier: &'a [i32],
    pub shift: &'a [i32],
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
}

/// The dot products of one or two rows against the weight rows. A trait with
/// `#[inline(always)]` methods rather than closures: closures are not guaranteed to be
/// inlined, and an out-of-line closure would lose the caller's AVX2 target feature.
pub(crate) trait Dots {
    /// Accumulators of channels `o..o+4` for both rows (row 1 unused unless `pair`).
    fn dot4(&self, o: usize) -> [[i32; 4]; 2];
    /// Channel `o` of row `r`.
    fn dot1(&self, r: usize, o: usize) -> i32;
}

/// Writes channels `0..oc` of row `bases.0` (and of row `bases.1` when `pair`) to `out` at
/// `base + channel`.
#[inline(always)]
pub(crate) fn write_rows<S, D>(
    rq: &Requant<'_>,
    bias: Option<&[i32]>,
    oc: usize,
    pair: bool,
    bases: (usize, usize),
    out: &mut S,
    dots: &D,
) where
    S: OutSink + ?Sized,
    D: Dots,
{
    let rows = if pair { 2 } else { 1 };
    let mut acc = [[0i32; OC_BLOCK]; 2];
    let mut res = [0i8; OC_BLOCK];
    let mut c0 = 0;
    while c0 < oc {
        let n = (oc - c0).min(OC_BLOCK);
        let n4 = n / 4 * 4;
        let mut j = 0;
        while j < n4 {
            let d = dots.dot4(c0 + j);
            acc[0][j..j + 4].copy_from_slice(&d[0]);
            acc[1][j..j + 4].copy_from_slice(&d[1]);
            j += 4;
        }
        while j < n {
            for (r, a) in acc.iter_mut().enumerate().take(rows) {
                a[j] = dots.dot1(r, c0 + j);
            }
            j += 1;
        }
        for (r, a) in acc.iter_mut().enumerate().take(rows) {
            let a = &mut a[..n];
            if let Some(b) = bias {
                for (x, &bv) in a.iter_mut().zip(&b[c0..c0 + n]) {
                    *x = x.wrapping_add(bv);
                }
            }
            let res = &mut res[..n];
            if rq.multiplier.len() == 1 {
                let (m, s) = (rq.multiplier[0], rq.shift[0]);
                for (y, &x) in res.iter_mut().zip(a.iter()) {
                    *y = requantize_s8_lane(x, m, s, rq.output_offset, rq.act_min, rq.act_max);
                }
            } else {
                let m = &rq.multiplier[c0..c0 + n];
                let s = &rq.shift[c0..c0 + n];
                for i in 0..n {
                    res[i] = requantize_s8_lane(
                        a[i],
                        m[i],
                        s[i],
                        rq.output_offset,
                        rq.act_min,
                        rq.act_max,
                    );
                }
            }
            let base = if r == 0 { bases.0 } else { bases.1 };
            out.put_row(base + c0, res);
        }
        c0 += n;
    }
}
