//! Float fully connected: TFLite's float `FullyConnected` with the activation as a clamp.
//!
//! [`fully_connected_f32`] computes four rows per pass but sums each row in the reference
//! order (input index ascending, then bias), so it is bit-identical to
//! [`fully_connected_f32_ref`].

use crate::conv::conv2d_f32::clamp_f32;
use crate::conv::quant::{activation_range_f32, FusedActivation};
use crate::{KernelError, KernelResult};

#[derive(Debug, Clone, Copy)]
pub struct FullyConnectedF32Params {
    pub batches: usize,
    pub input_depth: usize,
    pub output_depth: usize,
    pub act_min: f32,
    pub act_max: f32,
}

impl FullyConnectedF32Params {
    pub fn prepare(
        batches: usize,
        input_depth: usize,
        output_depth: usize,
        activation: FusedActivation,
    ) -> Self {
        let (act_min, act_max) = activation_range_f32(activation);
        FullyConnectedF32Params {
            batches,
            input_depth,
            output_depth,
            act_min,
            act_max,
        }
    }

    pub fn check(
        &self,
        input: usize,
        filter: usize,
        bias: Option<usize>,
        output: usize,
    ) -> KernelResult {
        if self
            .act_min
            .partial_cmp(&self.act_max)
            .is_none_or(|o| o.is_gt())
        {
            return Err(KernelError::BadParams);
        }
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
}

/// Float FC, four rows per pass, reference summation order.
pub fn fully_connected_f32(
    p: &FullyConnectedF32Params,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
) -> KernelResult {
    p.check(
        input.len(),
        filter.len(),
        bias.map(|b| b.len()),
        output.len(),
    )?;
    let (k, o_n) = (p.input_depth, p.output_depth);
    for b in 0..p.batches {
        let x = &input[b * k..(b + 1) * k];
        let mut o = 0;
        while o < o_n {
            let n = (o_n - o).min(4);
            let mut acc = [0f32; 4];
            // Interleave the rows so four independent sums progress together.
            let rows: [&[f32]; 4] = core::array::from_fn(|j| {
                if j < n {
                    &filter[(o + j) * k..(o + j + 1) * k]
                } else {
                    &filter[..0]
                }
            });
            if n == 4 {
                for d in 0..k {
                    acc[0] += x[d] * rows[0][d];
                    acc[1] += x[d] * rows[1][d];
                    acc[2] += x[d] * rows[2][d];
                    acc[3] += x[d] * rows[3][d];
                }
            } else {
                for (j, a) in acc.iter_mut().enumerate().take(n) {
                    for d in 0..k {
                        *a += x[d] * rows[j][d];
                    }
                }
            }
            for (j, &a) in acc.iter().enumerate().take(n) {
                let bv = bias.map_or(0.0, |bb| bb[o + j]);
                output[b * o_n + o + j] = clamp_f32(a + bv, p.act_min, p.act_max);
            }
            o += n;
        }
    }
    Ok(())
}

/// The reference loops (the spec).
pub fn fully_connected_f32_ref(
    p: &FullyConnectedF32Params,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
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
            let mut total = 0f32;
            for d in 0..k {
                total += input[b * k + d] * filter[o * k + d];
            }
            let bv = bias.map_or(0.0, |bb| bb[o]);
            output[b * o_n + o] = clamp_f32(total + bv, p.act_min, p.act_max);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::testutil::Rng;

    #[test]
    fn fast_equals_reference_bitwise() {
        let mut r = Rng::new(91);
        for i in 0..300 {
            let (batches, k, o) = (r.usize(1, 4), r.usize(1, 200), r.usize(1, 23));
            let act = [
                FusedActivation::None,
                FusedActivation::Relu,
                FusedActivation::ReluN1To1,
            ][i % 3];
            let p = FullyConnectedF32Params::prepare(batches, k, o, act);
            let input = r.f32s(batches * k, -2.0, 2.0);
            let filter = r.f32s(o * k, -1.0, 1.0);
            let bias = r.f32s(o, -1.0, 1.0);
            let bias = if i % 2 == 0 { Some(&bias[..]) } else { None };
            let mut want = vec![0f32; batches * o];
            let mut got = vec![7f32; batches * o];
            fully_connected_f32_ref(&p, &input, &filter, bias, &mut want).unwrap();
            fully_connected_f32(&p, &input, &filter, bias, &mut got).unwrap();
            let wb: Vec<u32> = want.iter().map(|v| v.to_bits()).collect();
            let gb: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
            assert_eq!(wb, gb, "case {i}");
        }
    }

    #[test]
    fn hand_checked_and_errors() {
        let p = FullyConnectedF32Params::prepare(1, 2, 2, FusedActivation::Relu);
        let mut out = [0f32; 2];
        fully_connected_f32(
            &p,
            &[1.0, 2.0],
            &[1.0, 1.0, -1.0, -1.0],
            Some(&[0.5, 0.0]),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [3.5, 0.0]);
        assert_eq!(
            fully_connected_f32(&p, &[1.0], &[1.0; 4], None, &mut out),
            Err(KernelError::BufferSize)
        );
    }
}
