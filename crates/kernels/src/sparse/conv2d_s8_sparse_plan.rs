//! Int8 convolution over a sparse filter in the host's execution form ([`SparsePlan`]), bit-exact with
//! [`conv2d_s8_ref`](crate::conv::conv2d_s8_ref) on the dense filter.
//!
//! Sparse × dense product (the SpMM scheme): output pixels go in tiles of [`PLAN_TILE`];
//! a tile's input patches are gathered once, transposed, into `K` rows of `PLAN_TILE` i16
//! lanes holding `x + input_offset` (0 for padding and for lanes past the last pixel); then each
//! output channel walks only its non-zero weights, each one a multiply-add across the tile's
//! pixels — with AVX2, two weights per `vpmaddwd` over interleaved lanes. Work is
//! `nonzeros × tiles` instead of `O·K × tiles`, plus one gather per tile, so sparse wins once
//! the density is low enough for the saved products to pay for the gather (the runtime's cost
//! model decides per layer). The same vectorized requantization as the dense kernels ends each
//! channel. Ungrouped convolutions only (`I == C`).
//!
//! Exactness: `x + input_offset` is in `[-255, 255]` (checked), weights are int8, so each
//! `vpmaddwd` pair sum fits i32; int32 sums of the same products in another order wrap to the
//! same bits.

use super::shared::check_conv;
use super::SparsePlan;
use crate::conv::cpu::simd_dispatch;
use crate::conv::quant::requantize_s8_lane;
use crate::conv::Conv2dS8Params;
use crate::{KernelError, KernelResult};

/// Output pixels computed per pass over the sparse filter.
pub const PLAN_TILE: usize = 16;

/// Scratch `i16`s [`conv2d_s8_sparse`] needs for a filter `[O, KH, KW, I]`.
pub const fn conv2d_s8_sparse_plan_scratch(kh: usize, kw: usize, i: usize) -> usize {
    kh * kw * i * PLAN_TILE
}

/// Int8 convolution with a sparse filter. `p` are the dense kernel's parameters (the filter
/// shape included); `scratch` holds at least [`conv2d_s8_sparse_plan_scratch`] values.
pub fn conv2d_s8_sparse_plan(
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    filter: &SparsePlan<'_>,
    bias: Option<&[i32]>,
    output: &mut [i8],
    scratch: &mut [i16],
) -> KernelResult {
    let fs = p.filter_shape;
    check_conv(p, input, bias, output, filter)?;
    // Keeps `x + input_offset` within i16 lanes and each `vpmaddwd` pair sum within i32.
    if !(-127..=128).contains(&p.input_offset) {
        return Err(KernelError::BadParams);
    }
    let need = conv2d_s8_sparse_plan_scratch(fs.h, fs.w, fs.c);
    let scratch = scratch.get_mut(..need).ok_or(KernelError::Scratch)?;
    conv_into(p, input, filter, bias, output, scratch);
    Ok(())
}

simd_dispatch! {
    fn conv_into(
        p: &Conv2dS8Params<'_>,
        input: &[i8],
        filter: &SparsePlan<'_>,
        bias: Option<&[i32]>,
        output: &mut [i8],
        xt: &mut [i16],
    ) => conv_body
}

/// Gathers the transposed input tile of pixels `p0..p0 + t` of batch `n`.
#[inline(always)]
fn gather(p: &Conv2dS8Params<'_>, input: &[i8], n: usize, p0: usize, t: usize, xt: &mut [i16]) {
    const T: usize = PLAN_TILE;
    let (is, fs, os, g) = (p.input_shape, p.filter_shape, p.output_shape, p.geometry);
    let off = p.input_offset as i16;
    let pointwise = fs.h == 1 && fs.w == 1 && g.pad_h == 0 && g.pad_w == 0;
    if t < T {
        xt.fill(0);
    }
    if pointwise {
        // One tap per pixel, always inside: a plain transpose of `t` input rows.
        for j in 0..t {
            let pix = p0 + j;
            let (oy, ox) = (pix / os.w, pix % os.w);
            let src = ((n * is.h + oy * g.stride_h) * is.w + ox * g.stride_w) * is.c;
            for (c, &x) in input[src..src + is.c].iter().enumerate() {
                xt[c * T + j] = x as i16 + off;
            }
        }
        return;
    }
    for j in 0..t {
        let pix = p0 + j;
        let (oy, ox) = (pix / os.w, pix % os.w);
        for ky in 0..fs.h {
            let iy = (oy * g.stride_h + ky * g.dilation_h) as isize - g.pad_h as isize;
            for kx in 0..fs.w {
                let ix = (ox * g.stride_w + kx * g.dilation_w) as isize - g.pad_w as isize;
                let base = (ky * fs.w + kx) * fs.c;
                let inside = iy >= 0 && ix >= 0 && (iy as usize) < is.h && (ix as usize) < is.w;
                if inside {
                    let src = ((n * is.h + iy as usize) * is.w + ix as usize) * is.c;
                    for (c, &x) in input[src..src + fs.c].iter().enumerate() {
                        xt[(base + c) * T + j] = x as i16 + off;
                    }
                } else {
                    for c in 0..fs.c {
                        xt[(base + c) * T + j] = 0;
                    }
                }
            }
        }
    }
}

/// Output channels per requantization block: the block's accumulators (`PLAN_TILE ×
/// OC_BLOCK` i32, 4 KiB) stay on the stack and are requantized pixel by pixel across channels,
/// the dense kernels' vectorized loop, and written as contiguous output rows.
const OC_BLOCK: usize = 64;

#[inline(always)]
fn conv_body(
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    filter: &SparsePlan<'_>,
    bias: Option<&[i32]>,
    output: &mut [i8],
    xt: &mut [i16],
) {
    const T: usize = PLAN_TILE;
    let (is, fs, os) = (p.input_shape, p.filter_shape, p.output_shape);
    let npix = os.h * os.w;
    let oc = fs.n;
    let simd = crate::conv::cpu::has_avx2();
    let mut acc = [[0i32; OC_BLOCK]; T];
    let mut res = [0i8; OC_BLOCK];
    for n in 0..is.n {
        let mut p0 = 0;
        while p0 < npix {
            let t = T.min(npix - p0);
            gather(p, input, n, p0, t, xt);
            let out = &mut output[(n * npix + p0) * oc..(n * npix + p0 + t) * oc];
            let mut c0 = 0;
            while c0 < oc {
                let nb = (oc - c0).min(OC_BLOCK);
                for o in 0..nb {
                    let lanes = tile_dot(simd, filter, c0 + o, xt);
                    for (row, &a) in acc.iter_mut().zip(&lanes) {
                        row[o] = a;
                    }
                }
                let m = &p.output_multiplier[c0..c0 + nb];
                let s = &p.output_shift[c0..c0 + nb];
                for (j, a) in acc.iter_mut().enumerate().take(t) {
                    let a = &mut a[..nb];
                    if let Some(b) = bias {
                        for (x, &bv) in a.iter_mut().zip(&b[c0..c0 + nb]) {
                            *x = x.wrapping_add(bv);
                        }
                    }
                    let res = &mut res[..nb];
                    for i in 0..nb {
                        res[i] = requantize_s8_lane(
                            a[i],
                            m[i],
                            s[i],
                            p.output_offset,
                            p.act_min,
                            p.act_max,
                        );
                    }
                    out[j * oc + c0..j * oc + c0 + nb].copy_from_slice(res);
                }
                c0 += nb;
            }
            p0 += t;
        }
    }
}

/// `Σ w · xt[col][lane]` over row `r`'s entries, for the tile's lanes.
#[inline(always)]
pub(crate) fn tile_dot(
    simd: bool,
    plan: &SparsePlan<'_>,
    r: usize,
    xt: &[i16],
) -> [i32; PLAN_TILE] {
    let (cols, vals) = plan.row(r);
    // Every column is `< row_len` (a `SparsePlan` invariant), so with this one check every
    // column's lanes lie inside `xt`.
    assert!(xt.len() >= plan.row_len() * PLAN_TILE);
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: the CPU supports AVX2 (`simd` comes from `has_avx2`); a plan row has an even
        // number of entries and its columns' lanes lie inside `xt` (see above).
        return unsafe { avx2::tile_dot(cols, vals, xt) };
    }
    let _ = simd;
    let mut acc = [0i32; PLAN_TILE];
    for (&c, &w) in cols.iter().zip(vals) {
        let x = &xt[c as usize * PLAN_TILE..][..PLAN_TILE];
        for (a, &xv) in acc.iter_mut().zip(x) {
            *a = a.wrapping_add(w as i32 * xv as i32);
        }
    }
    acc
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::PLAN_TILE;
    use core::arch::x86_64::*;

    /// Two weights per step: the lanes of their two input rows are interleaved
    /// (`vpunpck{l,h}wd`, within 128-bit halves) and `vpmaddwd` against the broadcast weight
    /// pair adds both products per pixel. The halves hold pixels {0–3, 8–11} and {4–7, 12–15};
    /// `vperm2i128` restores pixel order at the end.
    ///
    /// # Safety
    /// AVX2 must be available, `cols.len()` even, `vals.len() == cols.len()`, and every
    /// `(cols[e] + 1) · PLAN_TILE <= xt.len()`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn tile_dot(cols: &[u32], vals: &[i16], xt: &[i16]) -> [i32; PLAN_TILE] {
        let mut lo = _mm256_setzero_si256();
        let mut hi = _mm256_setzero_si256();
        let xp = xt.as_ptr();
        let n = cols.len().min(vals.len()) & !1;
        let mut e = 0;
        while e < n {
            // SAFETY: `e + 1 < n <= cols.len(), vals.len()`; the column bounds are the
            // caller's contract, so each 16-lane load stays inside `xt`.
            unsafe {
                let c0 = *cols.get_unchecked(e) as usize;
                let c1 = *cols.get_unchecked(e + 1) as usize;
                let a = _mm256_loadu_si256(xp.add(c0 * PLAN_TILE) as *const __m256i);
                let b = _mm256_loadu_si256(xp.add(c1 * PLAN_TILE) as *const __m256i);
                let w = _mm256_set1_epi32((vals.as_ptr().add(e) as *const i32).read_unaligned());
                lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(a, b), w));
                hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(a, b), w));
            }
            e += 2;
        }
        let mut out = [0i32; PLAN_TILE];
        let p0 = _mm256_permute2x128_si256(lo, hi, 0x20);
        let p1 = _mm256_permute2x128_si256(lo, hi, 0x31);
        // SAFETY: `out` holds 16 i32s, two unaligned 8-lane stores.
        unsafe {
            _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, p0);
            _mm256_storeu_si256(out.as_mut_ptr().add(8) as *mut __m256i, p1);
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::conv::{conv2d_s8_ref, ConvGeometry};
    use crate::depthwise::DepthwiseS8Params;
    use crate::fully_connected::FullyConnectedS8Params;
    use crate::sparse::{build_plan, plan_len};
    use crate::Shape4;

    pub(crate) fn lcg(s: &mut u32) -> u32 {
        *s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *s >> 8
    }

    /// Random int32 biases and requantization multipliers/shifts of `o` output channels, in
    /// that draw order.
    pub(crate) fn requant_params(o: usize, s: &mut u32) -> (Vec<i32>, Vec<i32>, Vec<i32>) {
        let bias = (0..o).map(|_| (lcg(s) % 2001) as i32 - 1000).collect();
        let mult = (0..o)
            .map(|_| 1_300_000_000 + (lcg(s) % 600_000_000) as i32)
            .collect();
        let shift = (0..o).map(|_| -((lcg(s) % 9) as i32) - 1).collect();
        (bias, mult, shift)
    }

    /// The conv parameters of the sparse conv tests: square stride and padding, a fixed
    /// output offset and the full int8 range, so cases differ only in shape and input offset.
    pub(crate) fn conv_params<'a>(
        (is, fs, os): (Shape4, Shape4, Shape4),
        stride: usize,
        pad: usize,
        input_offset: i32,
        mult: &'a [i32],
        shift: &'a [i32],
    ) -> Conv2dS8Params<'a> {
        Conv2dS8Params {
            input_shape: is,
            filter_shape: fs,
            output_shape: os,
            geometry: square(stride, pad),
            input_offset,
            output_offset: -5,
            act_min: -128,
            act_max: 127,
            output_multiplier: mult,
            output_shift: shift,
        }
    }

    /// The depthwise parameters of the sparse depthwise tests; `act_min` above -128 so the
    /// clamp is exercised.
    pub(crate) fn depthwise_params<'a>(
        (is, fs, os): (Shape4, Shape4, Shape4),
        stride: usize,
        pad: usize,
        depth_multiplier: usize,
        mult: &'a [i32],
        shift: &'a [i32],
    ) -> DepthwiseS8Params<'a> {
        DepthwiseS8Params {
            input_shape: is,
            filter_shape: fs,
            output_shape: os,
            geometry: square(stride, pad),
            depth_multiplier,
            input_offset: 9,
            output_offset: 3,
            act_min: -100,
            act_max: 127,
            output_multiplier: mult,
            output_shift: shift,
        }
    }

    /// The fully connected parameters of the sparse fully connected tests (symmetric weights,
    /// as the sparse kernels require).
    pub(crate) fn fc_params<'a>(
        batches: usize,
        i: usize,
        o: usize,
        mult: &'a [i32],
        shift: &'a [i32],
    ) -> FullyConnectedS8Params<'a> {
        FullyConnectedS8Params {
            batches,
            input_depth: i,
            output_depth: o,
            input_offset: -3,
            filter_offset: 0,
            output_offset: 4,
            act_min: -128,
            act_max: 127,
            output_multiplier: mult,
            output_shift: shift,
        }
    }

    fn square(stride: usize, pad: usize) -> ConvGeometry {
        ConvGeometry {
            stride_h: stride,
            stride_w: stride,
            pad_h: pad,
            pad_w: pad,
            ..Default::default()
        }
    }

    /// Owned plan lists of a dense filter.
    pub(crate) fn plan_of(w: &[i8], rows: usize, k: usize) -> (Vec<u32>, Vec<u32>, Vec<i16>) {
        let n = plan_len(w, rows, k).unwrap();
        let (mut rs, mut c, mut v) = (vec![0u32; rows + 1], vec![0u32; n], vec![0i16; n]);
        build_plan(w, rows, k, &mut rs, &mut c, &mut v).unwrap();
        (rs, c, v)
    }

    #[allow(clippy::too_many_arguments)]
    fn case(
        h: usize,
        w: usize,
        c: usize,
        o: usize,
        kh: usize,
        stride: usize,
        pad: usize,
        keep_one_in: u32,
    ) {
        let mut s = (h * 31 + c * 7 + o + kh * 3 + keep_one_in as usize) as u32;
        let is = Shape4::new(2, h, w, c);
        let fs = Shape4::new(o, kh, kh, c);
        let oh = (h + 2 * pad - kh) / stride + 1;
        let ow = (w + 2 * pad - kh) / stride + 1;
        let os = Shape4::new(2, oh, ow, o);
        let input: Vec<i8> = (0..is.n * h * w * c).map(|_| lcg(&mut s) as i8).collect();
        let k = kh * kh * c;
        let filter: Vec<i8> = (0..o * k)
            .map(|_| {
                if lcg(&mut s).is_multiple_of(keep_one_in) {
                    // Extremes included: -128 and 127 stress the i16 pair sums.
                    match lcg(&mut s) % 7 {
                        0 => -128,
                        1 => 127,
                        _ => lcg(&mut s) as i8,
                    }
                } else {
                    0
                }
            })
            .collect();
        let (bias, mult, shift) = requant_params(o, &mut s);
        for input_offset in [128, -127, 17] {
            let p = conv_params((is, fs, os), stride, pad, input_offset, &mult, &shift);
            let mut want = vec![0i8; os.n * oh * ow * o];
            conv2d_s8_ref(&p, &input, &filter, Some(&bias), &mut want).unwrap();
            let (rs, cs, vs) = plan_of(&filter, o, k);
            let plan = SparsePlan::new(o, k, &rs, &cs, &vs).unwrap();
            let mut got = vec![0i8; want.len()];
            let mut scratch = vec![0i16; conv2d_s8_sparse_plan_scratch(kh, kh, c)];
            conv2d_s8_sparse_plan(&p, &input, &plan, Some(&bias), &mut got, &mut scratch).unwrap();
            assert_eq!(
                got, want,
                "h{h} c{c} o{o} k{kh} s{stride} p{pad} 1/{keep_one_in}"
            );
        }
    }

    #[test]
    fn matches_dense_reference() {
        case(5, 5, 8, 6, 1, 1, 0, 5);
        case(7, 6, 3, 5, 3, 1, 1, 5);
        case(9, 9, 4, 7, 3, 2, 1, 3);
        case(6, 6, 10, 9, 3, 1, 1, 2);
        case(4, 4, 16, 32, 1, 1, 0, 5);
        case(7, 7, 64, 64, 1, 1, 0, 5);
        case(14, 14, 16, 32, 1, 1, 0, 1);
        case(3, 3, 2, 3, 3, 1, 0, 1);
        case(8, 8, 5, 4, 1, 2, 0, 3);
        case(5, 5, 7, 3, 1, 1, 0, 1000);
        // More output channels than one requantization block.
        case(5, 4, 8, 70, 1, 1, 0, 3);
        case(4, 4, 3, 130, 3, 1, 1, 4);
    }

    #[test]
    fn portable_and_simd_tiles_agree() {
        let mut s = 5u32;
        let k = 40;
        let xt: Vec<i16> = (0..k * PLAN_TILE)
            .map(|_| (lcg(&mut s) % 511) as i16 - 255)
            .collect();
        let w: Vec<i8> = (0..3 * k)
            .map(|_| {
                if lcg(&mut s).is_multiple_of(3) {
                    lcg(&mut s) as i8
                } else {
                    0
                }
            })
            .collect();
        let (rs, cs, vs) = plan_of(&w, 3, k);
        let plan = SparsePlan::new(3, k, &rs, &cs, &vs).unwrap();
        for r in 0..3 {
            let want = tile_dot(false, &plan, r, &xt);
            assert_eq!(tile_dot(crate::conv::cpu::has_avx2(), &plan, r, &xt), want);
            for (lane, &a) in want.iter().enumerate() {
                let direct: i32 = (0..k)
                    .map(|kk| w[r * k + kk] as i32 * xt[kk * PLAN_TILE + lane] as i32)
                    .sum();
                assert_eq!(a, direct);
            }
        }
    }

    #[test]
    fn rejects_mismatched_filter_and_small_scratch() {
        let mult = [1 << 30];
        let shift = [-1];
        let p = Conv2dS8Params {
            input_shape: Shape4::new(1, 2, 2, 4),
            filter_shape: Shape4::new(1, 1, 1, 4),
            output_shape: Shape4::new(1, 2, 2, 1),
            geometry: ConvGeometry::default(),
            input_offset: 0,
            output_offset: 0,
            act_min: -128,
            act_max: 127,
            output_multiplier: &mult,
            output_shift: &shift,
        };
        let (rs, cs, vs) = plan_of(&[3, 0, 4, 0], 1, 4);
        let f = SparsePlan::new(1, 4, &rs, &cs, &vs).unwrap();
        let mut out = [0i8; 4];
        let mut small = [0i16; 4];
        assert_eq!(
            conv2d_s8_sparse_plan(&p, &[1; 16], &f, None, &mut out, &mut small),
            Err(KernelError::Scratch)
        );
        let (rs5, cs5, vs5) = plan_of(&[3, 0, 4, 0, 0], 1, 5);
        let bad = SparsePlan::new(1, 5, &rs5, &cs5, &vs5).unwrap();
        let mut scratch = [0i16; 64];
        assert_eq!(
            conv2d_s8_sparse_plan(&p, &[1; 16], &bad, None, &mut out, &mut scratch),
            Err(KernelError::BadParams)
        );
        let mut q = p;
        q.input_offset = 129;
        assert_eq!(
            conv2d_s8_sparse_plan(&q, &[1; 16], &f, None, &mut out, &mut scratch),
            Err(KernelError::BadParams)
        );
        conv2d_s8_sparse_plan(&p, &[1; 16], &f, None, &mut out, &mut scratch).unwrap();
        let mut want = [0i8; 4];
        conv2d_s8_ref(&p, &[1; 16], &[3, 0, 4, 0], None, &mut want).unwrap();
        assert_eq!(out, want);
    }
}
