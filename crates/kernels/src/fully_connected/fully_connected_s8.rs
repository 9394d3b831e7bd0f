//! Int8 fully connected layer: reference loops, a 4-row-blocked fast variant and the dispatch.
//!
//! `acc = Σ (w + filter_offset)·(x + input_offset) (+ bias)`, then
//! `MultiplyByQuantizedMultiplier` with the single (per-tensor) or per-output-row multiplier,
//! `+ output_offset`, clamp. The fast variant ([`fully_connected_s8_fast`]) computes four rows
//! per pass over the input (two batches at a time when there are two) with the i16-widening
//! dot products of [`crate::conv`]; it needs `filter_offset == 0` (symmetric weights, always
//! the case for per-channel and for int8 models from the TFLite converter) and an input offset
//! in [−127, 128], else the dispatch runs the reference.

use crate::conv::conv2d_s8_fast::PATCH;
use crate::conv::cpu::Avx2;
use crate::conv::dot::{dot1, dot2x4, dot4};
use crate::conv::quant::{
    activation_range_s8, populate_multipliers, requantize_s8, shifts_ok, FusedActivation,
};
use crate::conv::tile::{write_rows, I16Rows, Requant};
use crate::{KernelError, KernelResult};

/// Float quantization parameters of a fully connected op, for `prepare`.
#[derive(Debug, Clone, Copy)]
pub struct FcQuant<'q> {
    pub input_scale: f32,
    pub input_zero_point: i32,
    /// One scale (per-tensor) or one per output row (per-channel).
    pub filter_scales: &'q [f32],
    /// Weight zero point (0 for symmetric weights; TFLM's per-tensor path honours others).
    pub filter_zero_point: i32,
    pub output_scale: f32,
    pub output_zero_point: i32,
    pub activation: FusedActivation,
}

/// Everything `fully_connected_s8` reads besides the tensors.
#[derive(Debug, Clone, Copy)]
pub struct FullyConnectedS8Params<'a> {
    pub batches: usize,
    /// `I`, the accumulation depth.
    pub input_depth: usize,
    /// `O`.
    pub output_depth: usize,
    /// `−input_zero_point`.
    pub input_offset: i32,
    /// `−filter_zero_point`.
    pub filter_offset: i32,
    /// `output_zero_point`.
    pub output_offset: i32,
    pub act_min: i32,
    pub act_max: i32,
    /// Length 1 (per-tensor) or `O` (per-channel).
    pub output_multiplier: &'a [i32],
    pub output_shift: &'a [i32],
}

impl<'a> FullyConnectedS8Params<'a> {
    /// TFLM's FC Prepare: `(double)input_scale · (double)filter_scale / (double)output_scale`
    /// per scale given, quantized into the caller's slices (same length as
    /// `quant.filter_scales`), plus the activation range.
    pub fn prepare(
        batches: usize,
        input_depth: usize,
        output_depth: usize,
        quant: &FcQuant<'_>,
        multipliers: &'a mut [i32],
        shifts: &'a mut [i32],
    ) -> Result<Self, KernelError> {
        if multipliers.len() != quant.filter_scales.len() {
            return Err(KernelError::BadParams);
        }
        populate_multipliers(
            quant.input_scale,
            quant.filter_scales,
            quant.output_scale,
            multipliers,
            shifts,
        )?;
        let (act_min, act_max) = activation_range_s8(
            quant.activation,
            quant.output_scale,
            quant.output_zero_point,
        )?;
        let neg = |z: i32| z.checked_neg().ok_or(KernelError::BadParams);
        let p = FullyConnectedS8Params {
            batches,
            input_depth,
            output_depth,
            input_offset: neg(quant.input_zero_point)?,
            filter_offset: neg(quant.filter_zero_point)?,
            output_offset: quant.output_zero_point,
            act_min,
            act_max,
            output_multiplier: multipliers,
            output_shift: shifts,
        };
        p.check_params()?;
        Ok(p)
    }

    pub fn check_params(&self) -> KernelResult {
        let m = self.output_multiplier.len();
        if !(m == 1 || m == self.output_depth)
            || self.output_shift.len() != m
            || !shifts_ok(self.output_shift)
            || self.act_min > self.act_max
        {
            return Err(KernelError::BadParams);
        }
        Ok(())
    }

    pub fn check(
        &self,
        input: usize,
        filter: usize,
        bias: Option<usize>,
        output: usize,
    ) -> KernelResult {
        self.check_params()?;
        let mul = |a: usize, b: usize| a.checked_mul(b).ok_or(KernelError::BufferSize);
        if input != mul(self.batches, self.input_depth)?
            || filter != mul(self.output_depth, self.input_depth)?
            || output != mul(self.batches, self.output_depth)?
            || bias.is_some_and(|b| b != self.output_depth)
        {
            return Err(KernelError::BufferSize);
        }
        Ok(())
    }

    #[inline(always)]
    fn requant(&self, acc: i32, o: usize) -> i8 {
        let i = if self.output_multiplier.len() == 1 {
            0
        } else {
            o
        };
        requantize_s8(
            acc,
            self.output_multiplier[i],
            self.output_shift[i],
            self.output_offset,
            self.act_min,
            self.act_max,
        )
    }

    fn fast_applies(&self) -> bool {
        self.filter_offset == 0 && (-127..=128).contains(&self.input_offset)
    }
}

/// Scratch bytes the FC kernels need: none.
pub const fn scratch_size() -> usize {
    0
}

/// Int8 fully connected: validates, then picks the fastest exact variant.
pub fn fully_connected_s8(
    p: &FullyConnectedS8Params<'_>,
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
    if p.fast_applies() {
        fully_connected_s8_fast(p, input, filter, bias, output)
    } else {
        fully_connected_s8_ref(p, input, filter, bias, output)
    }
}

/// The reference loops (the spec). Always applicable.
pub fn fully_connected_s8_ref(
    p: &FullyConnectedS8Params<'_>,
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
    let (k, o_n) = (p.input_depth, p.output_depth);
    for b in 0..p.batches {
        for o in 0..o_n {
            let mut acc: i32 = 0;
            for d in 0..k {
                let x = input[b * k + d] as i32;
                let w = filter[o * k + d] as i32;
                acc = acc.wrapping_add(
                    w.wrapping_add(p.filter_offset)
                        .wrapping_mul(x.wrapping_add(p.input_offset)),
                );
            }
            if let Some(bias) = bias {
                acc = acc.wrapping_add(bias[o]);
            }
            output[b * o_n + o] = p.requant(acc, o);
        }
    }
    Ok(())
}

/// Fast int8 FC (4 rows × up to 2 batches per pass); `BadParams` unless `filter_offset == 0`
/// and the input offset is in [−127, 128].
pub fn fully_connected_s8_fast(
    p: &FullyConnectedS8Params<'_>,
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
    if !p.fast_applies() {
        return Err(KernelError::BadParams);
    }
    fc_s8_fast_into(p, input, filter, bias, output);
    Ok(())
}

/// The kernel over checked, applicable params: the AVX2 build (with the intrinsic GEMM tiles)
/// when the CPU has it, else the portable build.
fn fc_s8_fast_into(
    p: &FullyConnectedS8Params<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
) {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = Avx2::detect() {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2(
            simd: Avx2,
            p: &FullyConnectedS8Params<'_>,
            input: &[i8],
            filter: &[i8],
            bias: Option<&[i32]>,
            output: &mut [i8],
        ) {
            fc_s8_fast_body(Some(simd), p, input, filter, bias, output)
        }
        // SAFETY: `Avx2::detect` succeeded, so the CPU supports AVX2.
        unsafe { avx2(simd, p, input, filter, bias, output) };
        return;
    }
    fc_s8_fast_body(None, p, input, filter, bias, output)
}

/// The kernel body; `simd` selects the intrinsic tiles (only with AVX2 proven present).
/// Input rows up to [`PATCH`] long are widened once to `x + input_offset` in i16 and run
/// through the shared GEMM output stage; longer rows use the on-the-fly widening dots.
#[inline(always)]
fn fc_s8_fast_body(
    simd: Option<Avx2>,
    p: &FullyConnectedS8Params<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    output: &mut [i8],
) {
    let (k, o_n) = (p.input_depth, p.output_depth);
    if k <= PATCH {
        let off = p.input_offset as i16;
        let rq = Requant {
            multiplier: p.output_multiplier,
            shift: p.output_shift,
            output_offset: p.output_offset,
            act_min: p.act_min,
            act_max: p.act_max,
        };
        let mut buf = [0i16; 2 * PATCH];
        let (pa, pb) = buf.split_at_mut(PATCH);
        let (pa, pb) = (&mut pa[..k], &mut pb[..k]);
        let mut b = 0;
        while b < p.batches {
            let pair = b + 1 < p.batches;
            for (d, &x) in pa.iter_mut().zip(&input[b * k..(b + 1) * k]) {
                *d = x as i16 + off;
            }
            if pair {
                for (d, &x) in pb.iter_mut().zip(&input[(b + 1) * k..(b + 2) * k]) {
                    *d = x as i16 + off;
                }
            }
            let dots = I16Rows {
                avx2: simd,
                x0: pa,
                x1: pb,
                pair,
                filter,
                k,
            };
            write_rows(
                &rq,
                bias,
                o_n,
                pair,
                (b * o_n, (b + 1) * o_n),
                output,
                &dots,
            );
            b += if pair { 2 } else { 1 };
        }
        return;
    }
    let (k, o_n) = (p.input_depth, p.output_depth);
    let off = p.input_offset as i16;
    let row = |o: usize| &filter[o * k..(o + 1) * k];
    let bias_of = |o: usize| bias.map_or(0, |bb| bb[o]);
    let o4 = o_n / 4 * 4;
    let mut b = 0;
    while b < p.batches {
        let pair = b + 1 < p.batches;
        let x0 = &input[b * k..(b + 1) * k];
        let mut o = 0;
        while o < o4 {
            let w = [row(o), row(o + 1), row(o + 2), row(o + 3)];
            if pair {
                let x1 = &input[(b + 1) * k..(b + 2) * k];
                let d = dot2x4(x0, x1, off, w);
                for j in 0..4 {
                    let bv = bias_of(o + j);
                    output[b * o_n + o + j] = p.requant(d[0][j].wrapping_add(bv), o + j);
                    output[(b + 1) * o_n + o + j] = p.requant(d[1][j].wrapping_add(bv), o + j);
                }
            } else {
                let d = dot4(x0, off, w);
                for (j, &dj) in d.iter().enumerate() {
                    output[b * o_n + o + j] = p.requant(dj.wrapping_add(bias_of(o + j)), o + j);
                }
            }
            o += 4;
        }
        while o < o_n {
            output[b * o_n + o] = p.requant(dot1(x0, off, row(o)).wrapping_add(bias_of(o)), o);
            if pair {
                let x1 = &input[(b + 1) * k..(b + 2) * k];
                output[(b + 1) * o_n + o] =
                    p.requant(dot1(x1, off, row(o)).wrapping_add(bias_of(o)), o);
            }
            o += 1;
        }
        b += if pair { 2 } else { 1 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::testutil::Rng;

    struct Case {
        batches: usize,
        k: usize,
        o: usize,
        input_offset: i32,
        filter_offset: i32,
        output_offset: i32,
        act: (i32, i32),
        mult: Vec<i32>,
        shift: Vec<i32>,
        input: Vec<i8>,
        filter: Vec<i8>,
        bias: Option<Vec<i32>>,
    }

    impl Case {
        fn random(r: &mut Rng, filter_offset: bool) -> Case {
            let batches = r.usize(1, 5);
            let k = if r.range(0, 9) == 0 {
                r.usize(PATCH + 1, PATCH + 200)
            } else {
                r.usize(1, 300)
            };
            let o = r.usize(1, 40);
            let per_channel = r.range(0, 1) == 0;
            let (mult, shift) = r.multipliers(if per_channel { o } else { 1 });
            Case {
                batches,
                k,
                o,
                input_offset: r.range(-127, 128) as i32,
                filter_offset: if filter_offset {
                    r.range(-127, 128) as i32
                } else {
                    0
                },
                output_offset: r.range(-128, 127) as i32,
                act: r.act_range(),
                mult,
                shift,
                input: r.i8s(batches * k),
                filter: r.i8s(o * k),
                bias: if r.range(0, 3) == 0 {
                    None
                } else {
                    Some(r.i32s(o, -30000, 30000))
                },
            }
        }

        fn params(&self) -> FullyConnectedS8Params<'_> {
            FullyConnectedS8Params {
                batches: self.batches,
                input_depth: self.k,
                output_depth: self.o,
                input_offset: self.input_offset,
                filter_offset: self.filter_offset,
                output_offset: self.output_offset,
                act_min: self.act.0,
                act_max: self.act.1,
                output_multiplier: &self.mult,
                output_shift: &self.shift,
            }
        }
    }

    #[test]
    fn fast_equals_reference_on_random_shapes() {
        let mut r = Rng::new(81);
        for i in 0..800 {
            let c = Case::random(&mut r, false);
            let p = c.params();
            let mut want = vec![0i8; c.batches * c.o];
            let mut got = vec![1i8; c.batches * c.o];
            let mut disp = vec![2i8; c.batches * c.o];
            fully_connected_s8_ref(&p, &c.input, &c.filter, c.bias.as_deref(), &mut want).unwrap();
            fully_connected_s8_fast(&p, &c.input, &c.filter, c.bias.as_deref(), &mut got).unwrap();
            fully_connected_s8(&p, &c.input, &c.filter, c.bias.as_deref(), &mut disp).unwrap();
            assert_eq!(want, got, "case {i}");
            assert_eq!(want, disp, "case {i}");
        }
    }

    #[test]
    fn portable_build_equals_reference() {
        let mut r = Rng::new(84);
        for i in 0..300 {
            let c = Case::random(&mut r, false);
            let p = c.params();
            let mut want = vec![0i8; c.batches * c.o];
            let mut got = vec![1i8; c.batches * c.o];
            fully_connected_s8_ref(&p, &c.input, &c.filter, c.bias.as_deref(), &mut want).unwrap();
            fc_s8_fast_body(None, &p, &c.input, &c.filter, c.bias.as_deref(), &mut got);
            assert_eq!(want, got, "case {i}");
        }
    }

    #[test]
    fn filter_offset_runs_the_reference() {
        let mut r = Rng::new(82);
        let c = Case::random(&mut r, true);
        let p = FullyConnectedS8Params {
            filter_offset: 3,
            ..c.params()
        };
        let mut out = vec![0i8; c.batches * c.o];
        assert_eq!(
            fully_connected_s8_fast(&p, &c.input, &c.filter, None, &mut out),
            Err(KernelError::BadParams)
        );
        fully_connected_s8(&p, &c.input, &c.filter, None, &mut out).unwrap();
        let mut want = vec![0i8; c.batches * c.o];
        fully_connected_s8_ref(&p, &c.input, &c.filter, None, &mut want).unwrap();
        assert_eq!(out, want);
    }

    #[test]
    fn hand_checked_with_filter_offset() {
        // x = [1, 2, 3] (zp −1 → offset 1), w = [[1, 0, −1], [2, 2, 2]] (zp 1 → offset −1).
        // row0: (0)(2) + (−1)(3) + (−2)(4) = −11; row1: (1)(2)+(1)(3)+(1)(4) = 9 (+ bias 1).
        let mut m = [0];
        let mut s = [0];
        let q = FcQuant {
            input_scale: 1.0,
            input_zero_point: -1,
            filter_scales: &[1.0],
            filter_zero_point: 1,
            output_scale: 1.0,
            output_zero_point: 0,
            activation: FusedActivation::None,
        };
        let p = FullyConnectedS8Params::prepare(1, 3, 2, &q, &mut m, &mut s).unwrap();
        assert_eq!((p.input_offset, p.filter_offset), (1, -1));
        let mut out = [0i8; 2];
        fully_connected_s8(
            &p,
            &[1, 2, 3],
            &[1, 0, -1, 2, 2, 2],
            Some(&[0, 1]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [-11, 10]);
        let q = FcQuant {
            activation: FusedActivation::Relu,
            ..q
        };
        let mut m = [0];
        let mut s = [0];
        let p = FullyConnectedS8Params::prepare(1, 3, 2, &q, &mut m, &mut s).unwrap();
        fully_connected_s8(
            &p,
            &[1, 2, 3],
            &[1, 0, -1, 2, 2, 2],
            Some(&[0, 1]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [0, 10]);
    }

    #[test]
    fn bad_sizes_are_errors() {
        let mut r = Rng::new(83);
        let c = Case::random(&mut r, false);
        let p = c.params();
        let mut out = vec![0i8; c.batches * c.o];
        assert_eq!(
            fully_connected_s8(&p, &c.input[1..], &c.filter, None, &mut out),
            Err(KernelError::BufferSize)
        );
        assert_eq!(
            fully_connected_s8(
                &p,
                &c.input,
                &c.filter,
                Some(&[1, 2, 3][..c.o.min(3) - 1]),
                &mut out
            ),
            Err(KernelError::BufferSize)
        );
        let two = [1, 2];
        let bad = FullyConnectedS8Params {
            output_multiplier: &two,
            output_shift: &two,
            output_depth: 7,
            ..p
        };
        assert_eq!(
            fully_connected_s8(&bad, &c.input, &c.filter, None, &mut out),
            Err(KernelError::BadParams)
        );
    }
}
