//! Fully connected with packed int4 or int2 weights ([`crate::packed`]) and int8 activations:
//! the int8 reference arithmetic (TFLM's `FullyConnected`) reading each weight from its packed
//! byte, so results are bit-identical to `fully_connected_s8_ref` on the unpacked weights.
use super::FullyConnectedS8Params;
use crate::conv::quant::requantize_s8;
use crate::packed::PackedWeights;
use crate::{KernelError, KernelResult};

/// Int8 fully connected over packed weights (`filter.len` must be `output_depth × input_depth`).
pub fn fully_connected_packed(
    p: &FullyConnectedS8Params<'_>,
    input: &[i8],
    filter: PackedWeights<'_>,
    bias: Option<&[i32]>,
    output: &mut [i8],
) -> KernelResult {
    p.check(input.len(), filter.len, bias.map(|b| b.len()), output.len())?;
    if filter.data.len() != filter.bits.bytes_for(filter.len) {
        return Err(KernelError::BufferSize);
    }
    let (k, o_n) = (p.input_depth, p.output_depth);
    for b in 0..p.batches {
        let x = &input[b * k..(b + 1) * k];
        for o in 0..o_n {
            let mut acc: i32 = 0;
            for (d, &xv) in x.iter().enumerate() {
                let w = filter.get(o * k + d);
                acc = acc.wrapping_add(
                    w.wrapping_add(p.filter_offset)
                        .wrapping_mul((xv as i32).wrapping_add(p.input_offset)),
                );
            }
            if let Some(bias) = bias {
                acc = acc.wrapping_add(bias[o]);
            }
            let i = if p.output_multiplier.len() == 1 { 0 } else { o };
            output[b * o_n + o] = requantize_s8(
                acc,
                p.output_multiplier[i],
                p.output_shift[i],
                p.output_offset,
                p.act_min,
                p.act_max,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fully_connected::fully_connected_s8_ref;
    use crate::packed::tests::{pack, weights};
    use crate::packed::WeightBits;

    #[test]
    fn bit_identical_to_int8_on_unpacked_weights() {
        for (bits, k, o_n, per_channel) in [
            (WeightBits::I4, 33, 7, false),
            (WeightBits::I4, 64, 10, true),
            (WeightBits::I2, 17, 5, true),
            (WeightBits::I2, 40, 3, false),
        ] {
            let n = k * o_n;
            let w = weights(n, bits, 3);
            let packed = pack(&w[..n], bits);
            let input: [i8; 128] = core::array::from_fn(|i| (i as i32 * 37 % 256 - 128) as i8);
            let bias: [i32; 16] = core::array::from_fn(|i| i as i32 * 100 - 700);
            let m = if per_channel { o_n } else { 1 };
            let mult: [i32; 16] = core::array::from_fn(|i| 1_300_000_000 + i as i32 * 10_000_000);
            let shift: [i32; 16] = core::array::from_fn(|i| -(4 + (i as i32 % 3)));
            let p = FullyConnectedS8Params {
                batches: 2,
                input_depth: k,
                output_depth: o_n,
                input_offset: 5,
                filter_offset: 0,
                output_offset: -3,
                act_min: -128,
                act_max: 127,
                output_multiplier: &mult[..m],
                output_shift: &shift[..m],
            };
            let mut a = [0i8; 32];
            let mut b = [0i8; 32];
            let pw = PackedWeights::new(&packed[..bits.bytes_for(n)], bits, n).unwrap();
            fully_connected_packed(
                &p,
                &input[..2 * k],
                pw,
                Some(&bias[..o_n]),
                &mut a[..2 * o_n],
            )
            .unwrap();
            fully_connected_s8_ref(
                &p,
                &input[..2 * k],
                &w[..n],
                Some(&bias[..o_n]),
                &mut b[..2 * o_n],
            )
            .unwrap();
            assert_eq!(a, b, "{bits:?}");
        }
    }
}
