//! Int8 convolution with a fused residual ADD epilogue, written in place over the skip tensor.
//!
//! For every output element the conv's int8 value is computed exactly as
//! [`conv2d_s8`](super::conv2d_s8) computes it (requantized and clamped to the conv's own
//! activation range), then combined with the skip value by TFLM's int8 ADD ([`add_s8_elem`])
//! and stored over that same skip element. Element `i` of the output depends only on the conv
//! input and `skip[i]`, so the in-place write is safe and the result is byte-identical to a
//! conv followed by an ADD, while the conv output tensor never exists: this is what lets the
//! memory planner go under the layer-wise floor on ResNets.

use super::add_params::{add_s8_elem, add_s8_lane, AddS8Params};
use super::conv2d_s8::{conv2d_s8_dispatch_into, conv2d_s8_ref_into, Conv2dS8Params, OutSink};
use crate::KernelResult;

/// Which ADD operand the conv result is (the model's operand order matters for rounding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOperandOrder {
    /// `ADD(conv_out, skip)`: the conv output is input 1.
    ConvFirst,
    /// `ADD(skip, conv_out)`: the skip tensor is input 1.
    SkipFirst,
}

/// The conv's params, the ADD's params (prepared in the model's operand order) and that order.
#[derive(Debug, Clone, Copy)]
pub struct Conv2dS8AddParams<'a> {
    pub conv: Conv2dS8Params<'a>,
    pub add: AddS8Params,
    pub order: AddOperandOrder,
}

/// Scratch bytes `conv2d_s8_add` needs: none.
pub const fn scratch_size() -> usize {
    0
}

struct AddSink<'b> {
    buf: &'b mut [i8],
    add: AddS8Params,
    conv_first: bool,
}

impl OutSink for AddSink<'_> {
    #[inline(always)]
    fn put(&mut self, i: usize, v: i8) {
        let skip = self.buf[i];
        self.buf[i] = if self.conv_first {
            add_s8_elem(&self.add, v, skip)
        } else {
            add_s8_elem(&self.add, skip, v)
        };
    }

    #[inline(always)]
    fn put_row(&mut self, base: usize, v: &[i8]) {
        let row = &mut self.buf[base..base + v.len()];
        let add = &self.add;
        if self.conv_first {
            for (s, &c) in row.iter_mut().zip(v) {
                *s = add_s8_lane(add, c, *s);
            }
        } else {
            for (s, &c) in row.iter_mut().zip(v) {
                *s = add_s8_lane(add, *s, c);
            }
        }
    }
}

/// Conv (fast dispatch) + ADD, result in `skip_and_out` (shape = the conv output shape).
pub fn conv2d_s8_add(
    p: &Conv2dS8AddParams<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    skip_and_out: &mut [i8],
) -> KernelResult {
    p.conv.check(
        input.len(),
        filter.len(),
        bias.map(|b| b.len()),
        skip_and_out.len(),
    )?;
    p.add.check()?;
    let mut sink = AddSink {
        buf: skip_and_out,
        add: p.add,
        conv_first: p.order == AddOperandOrder::ConvFirst,
    };
    conv2d_s8_dispatch_into(&p.conv, input, filter, bias, &mut sink);
    Ok(())
}

/// Same result from the reference conv loops (the spec).
pub fn conv2d_s8_add_ref(
    p: &Conv2dS8AddParams<'_>,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    skip_and_out: &mut [i8],
) -> KernelResult {
    p.conv.check(
        input.len(),
        filter.len(),
        bias.map(|b| b.len()),
        skip_and_out.len(),
    )?;
    p.add.check()?;
    let mut sink = AddSink {
        buf: skip_and_out,
        add: p.add,
        conv_first: p.order == AddOperandOrder::ConvFirst,
    };
    conv2d_s8_ref_into(&p.conv, input, filter, bias, &mut sink);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::conv2d_s8::tests::Case;
    use super::super::quant::FusedActivation;
    use super::super::testutil::Rng;
    use super::super::{conv2d_s8, conv2d_s8_ref};
    use super::*;
    use crate::KernelError;

    fn random_add(r: &mut Rng) -> AddS8Params {
        let act = [
            FusedActivation::None,
            FusedActivation::Relu,
            FusedActivation::Relu6,
        ][r.usize(0, 2)];
        AddS8Params::prepare(
            r.f32(0.01, 0.2),
            r.range(-128, 127) as i32,
            r.f32(0.01, 0.2),
            r.range(-128, 127) as i32,
            r.f32(0.02, 0.3),
            r.range(-128, 127) as i32,
            act,
        )
        .unwrap()
    }

    #[test]
    fn fused_equals_conv_then_add() {
        let mut r = Rng::new(31);
        for i in 0..400 {
            let c = Case::random(&mut r, i % 3 == 0, true);
            let add = random_add(&mut r);
            let order = if r.range(0, 1) == 0 {
                AddOperandOrder::ConvFirst
            } else {
                AddOperandOrder::SkipFirst
            };
            let p = Conv2dS8AddParams {
                conv: c.params(),
                add,
                order,
            };
            let skip = r.i8s(c.out_len());
            // Unfused: conv into its own tensor, then TFLM's ADD element by element.
            let mut conv_out = vec![0i8; c.out_len()];
            conv2d_s8_ref(
                &p.conv,
                &c.input,
                &c.filter,
                c.bias.as_deref(),
                &mut conv_out,
            )
            .unwrap();
            let want: Vec<i8> = conv_out
                .iter()
                .zip(&skip)
                .map(|(&cv, &s)| match order {
                    AddOperandOrder::ConvFirst => add_s8_elem(&add, cv, s),
                    AddOperandOrder::SkipFirst => add_s8_elem(&add, s, cv),
                })
                .collect();
            let mut fused = skip.clone();
            conv2d_s8_add(&p, &c.input, &c.filter, c.bias.as_deref(), &mut fused).unwrap();
            assert_eq!(want, fused, "case {i}");
            let mut fused_ref = skip.clone();
            conv2d_s8_add_ref(&p, &c.input, &c.filter, c.bias.as_deref(), &mut fused_ref).unwrap();
            assert_eq!(want, fused_ref, "case {i} (ref)");
            // And the dispatching conv agrees with the reference conv used above.
            let mut conv_fast = vec![0i8; c.out_len()];
            conv2d_s8(
                &p.conv,
                &c.input,
                &c.filter,
                c.bias.as_deref(),
                &mut conv_fast,
            )
            .unwrap();
            assert_eq!(conv_out, conv_fast);
        }
    }

    #[test]
    fn operand_order_matters_and_is_honoured() {
        // Different input scales make ADD asymmetric: swapping the operands must change
        // something for some inputs, and each order must match its own unfused result.
        let add = AddS8Params::prepare(0.03, 5, 0.11, -9, 0.1, 1, FusedActivation::None).unwrap();
        let differs = (-128..=127)
            .any(|x: i32| add_s8_elem(&add, x as i8, 17) != add_s8_elem(&add, 17, x as i8));
        assert!(differs);
    }

    #[test]
    fn mismatched_skip_is_an_error() {
        let mut r = Rng::new(32);
        let c = Case::random(&mut r, false, false);
        let p = Conv2dS8AddParams {
            conv: c.params(),
            add: random_add(&mut r),
            order: AddOperandOrder::ConvFirst,
        };
        let mut skip = vec![0i8; c.out_len() + 3];
        assert_eq!(
            conv2d_s8_add(&p, &c.input, &c.filter, None, &mut skip),
            Err(KernelError::BufferSize)
        );
        let bad = Conv2dS8AddParams {
            add: AddS8Params {
                output_shift: 3,
                ..p.add
            },
            ..p
        };
        let mut skip = vec![0i8; c.out_len()];
        assert_eq!(
            conv2d_s8_add(&bad, &c.input, &c.filter, None, &mut skip),
            Err(KernelError::BadParams)
        );
    }
}
