//! Int8 convolution for small filters on AVX2: an outer-product GEMM micro-kernel.
//!
//! With few weights per output channel (VWW's first 3×3×3 conv, 1×1 convs over 8–32
//! channels) a dot product per output is mostly horizontal sums and remainders. Here the
//! weights are repacked once per call into a stack tile `[K/2][O/8][8 lanes][2]` of i16 pairs,
//! and each output pixel broadcasts consecutive pairs of its patch (`x + input_offset`, as in
//! [`conv2d_s8_fast`](super::conv2d_s8_fast)) against eight output channels per `vpmaddwd`:
//! `K/2 · O/8` instructions per pixel, then one vectorized requantization of all channels.
//! Exact: each pair sum is at most 2·255·128 and i32 accumulation wraps like the reference.
//!
//! Applies with AVX2 present, an ungrouped conv, `input_offset` in [−127, 128], at most 64
//! output channels and `K·O <= TILE`; bit-identical to [`conv2d_s8_ref`](super::conv2d_s8_ref).
//! Elsewhere (other CPUs, Cortex-M) the dispatch uses the patch kernel instead.

use super::conv2d_s8::{Conv2dS8Params, OutSink};
use super::cpu::Avx2;
use crate::{KernelError, KernelResult};

/// i16 slots of the repacked weight tile: `ceil(K/2)·2 · lanes <= TILE`, where `lanes` is
/// the channel count rounded up to the vector blocks used (8, 16, 32 or 64).
pub const TILE: usize = 2048;
/// Largest `K = KH·KW·I`.
pub const MAX_K: usize = 64;
const MAX_OC: usize = 64;

/// Whether [`conv2d_s8_outer`] can run these (already checked) params on this CPU.
pub fn applies(p: &Conv2dS8Params<'_>) -> bool {
    let fs = p.filter_shape;
    let k = fs.h * fs.w * fs.c;
    Avx2::detect().is_some()
        && p.input_shape.c == fs.c
        && p.fast_offset_ok()
        && k <= MAX_K
        && fs.n <= MAX_OC
        && k.div_ceil(2) * 2 * lanes(fs.n) <= TILE
}

/// Output channels rounded up to the kernel's vector blocks (`NB · 8`).
fn lanes(oc: usize) -> usize {
    8 * blocks(oc)
}

/// `NB`, the number of 8-channel vector blocks the kernel instantiates for `oc` channels.
fn blocks(oc: usize) -> usize {
    match oc.div_ceil(8) {
        0 | 1 => 1,
        2 => 2,
        3 | 4 => 4,
        _ => 8,
    }
}

/// Small-filter int8 conv; `BadParams` where [`applies`] is false.
pub fn conv2d_s8_outer(
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
) -> KernelResult {
    p.check(
        input.len(),
        filter.len(),
        bias.map(|b| b.len()),
        output.len(),
    )?;
    if !applies(p) {
        return Err(KernelError::BadParams);
    }
    conv2d_s8_outer_into(p, input, filter, bias, output);
    Ok(())
}

/// The kernel over checked params for which [`applies`] holds.
pub(crate) fn conv2d_s8_outer_into<S: OutSink + ?Sized>(
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    out: &mut S,
) {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = Avx2::detect() {
        // SAFETY: `Avx2::detect` succeeded, so the CPU supports AVX2.
        unsafe {
            match blocks(p.output_shape.c) {
                1 => x86::outer::<1, S>(simd, p, input, filter, bias, out),
                2 => x86::outer::<2, S>(simd, p, input, filter, bias, out),
                4 => x86::outer::<4, S>(simd, p, input, filter, bias, out),
                _ => x86::outer::<8, S>(simd, p, input, filter, bias, out),
            }
        }
        return;
    }
    // Unreachable when `applies` held; stay correct anyway.
    super::conv2d_s8::conv2d_s8_ref_into(p, input, filter, bias, out);
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::conv2d_s8::{Conv2dS8Params, OutSink};
    use super::super::conv2d_s8_fast::{fill_patch, Pixel};
    use super::super::cpu::Avx2;
    use super::super::quant::requantize_s8_lane;
    use super::{MAX_K, MAX_OC, TILE};
    use core::arch::x86_64::*;

    /// `NB` blocks of 8 output channels.
    ///
    /// # Safety
    /// The CPU must support AVX2 (the `Avx2` token proves it); params checked and
    /// [`applies`](super::applies) true.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn outer<const NB: usize, S: OutSink + ?Sized>(
        _simd: Avx2,
        p: &Conv2dS8Params<'_>,
        input: &[i8],
        filter: &[i8],
        bias: Option<&[i32]>,
        out: &mut S,
    ) {
        let (fs, os) = (p.filter_shape, p.output_shape);
        let k = fs.h * fs.w * fs.c;
        let kp = k.div_ceil(2);
        let oc = os.c;
        let lanes = NB * 8;
        // Repacked weights: pair `q` of channel `o` at [(q·NB + o/8)·16 + (o%8)·2 ..+2].
        // Channels past `oc` and the odd tail of `k` stay 0 and contribute nothing.
        let mut wt = [0i16; TILE];
        for o in 0..oc {
            for kk in 0..k {
                let q = kk / 2;
                wt[(q * NB + o / 8) * 16 + (o % 8) * 2 + kk % 2] = filter[o * k + kk] as i16;
            }
        }
        let mut acc0 = [0i32; MAX_OC];
        if let Some(b) = bias {
            acc0[..oc].copy_from_slice(&b[..oc]);
        }
        let mut mult = [0i32; MAX_OC];
        let mut shift = [0i32; MAX_OC];
        mult[..oc].copy_from_slice(&p.output_multiplier[..oc]);
        shift[..oc].copy_from_slice(&p.output_shift[..oc]);
        let mut patch = [0i16; MAX_K + 2];
        let mut accs = [0i32; MAX_OC];
        let mut res = [0i8; MAX_OC];
        let pixels = os.n * os.h * os.w;
        let mut px = Pixel { b: 0, oy: 0, ox: 0 };
        for i in 0..pixels {
            fill_patch(p, input, px, &mut patch[..k]);
            px.advance(&os);
            let mut acc = [_mm256_setzero_si256(); NB];
            for (b, a) in acc.iter_mut().enumerate() {
                // SAFETY: `acc0` has MAX_OC >= NB·8 elements, so `b·8 .. b·8 + 8` is inside.
                *a = _mm256_loadu_si256(acc0.as_ptr().add(b * 8) as *const __m256i);
            }
            for q in 0..kp {
                // The pair (patch[2q], patch[2q+1]) in every 32-bit lane; patch[k] is 0 when
                // `k` is odd (never written, zero-initialized).
                let pair = (patch[2 * q] as u16 as u32) | ((patch[2 * q + 1] as u16 as u32) << 16);
                let xv = _mm256_set1_epi32(pair as i32);
                for (b, a) in acc.iter_mut().enumerate() {
                    // SAFETY: the highest slot read is `(q·NB + b)·16 + 15 < kp·NB·16 =
                    // kp·2·lanes <= TILE` (the `applies` condition).
                    let w =
                        _mm256_loadu_si256(wt.as_ptr().add((q * NB + b) * 16) as *const __m256i);
                    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(xv, w));
                }
            }
            for (b, a) in acc.iter().enumerate() {
                // SAFETY: as for the loads from `acc0` above.
                _mm256_storeu_si256(accs.as_mut_ptr().add(b * 8) as *mut __m256i, *a);
            }
            for j in 0..lanes {
                res[j] = requantize_s8_lane(
                    accs[j],
                    mult[j],
                    shift[j],
                    p.output_offset,
                    p.act_min,
                    p.act_max,
                );
            }
            let base = i * oc;
            out.put_row(base, &res[..oc]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv2d_s8::tests::Case;
    use super::super::conv2d_s8_ref;
    use super::super::testutil::Rng;
    use super::*;

    #[test]
    fn equals_reference_on_random_small_filters() {
        if Avx2::detect().is_none() {
            return; // the variant only exists on AVX2 CPUs
        }
        let mut r = Rng::new(151);
        let mut ran = 0;
        while ran < 500 {
            let one = r.range(0, 1) == 0;
            let mut c = Case::random(&mut r, one, false);
            if ran % 4 == 0 {
                let oc = [1, 7, 8, 9, 16, 17, 24, 33, 40, 64][r.usize(0, 9)];
                c.fs.n = oc;
                c.os.c = oc;
                c.filter = r.i8s(c.fs.elements().unwrap());
                let (m, s) = r.multipliers(oc);
                c.mult = m;
                c.shift = s;
                c.bias = if r.range(0, 1) == 0 {
                    None
                } else {
                    Some(r.i32s(oc, -9000, 9000))
                };
            }
            let p = c.params();
            if !applies(&p) {
                continue;
            }
            ran += 1;
            let mut want = vec![0i8; c.out_len()];
            let mut got = vec![1i8; c.out_len()];
            conv2d_s8_ref(&p, &c.input, &c.filter, c.bias.as_deref(), &mut want).unwrap();
            conv2d_s8_outer(&p, &c.input, &c.filter, c.bias.as_deref(), &mut got).unwrap();
            assert_eq!(want, got, "{:?} {:?} {:?} {:?}", c.is, c.fs, c.os, c.g);
        }
    }

    #[test]
    fn refuses_what_it_cannot_run() {
        let mut r = Rng::new(152);
        loop {
            let c = Case::random(&mut r, false, false);
            if c.fs.h * c.fs.w * c.fs.c <= MAX_K {
                continue;
            }
            let mut out = vec![0i8; c.out_len()];
            assert_eq!(
                conv2d_s8_outer(&c.params(), &c.input, &c.filter, None, &mut out),
                Err(KernelError::BadParams)
            );
            break;
        }
    }
}
