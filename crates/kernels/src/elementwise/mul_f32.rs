//! Float MUL with broadcasting and a fused activation clamp (TFLite reference float mul).

use crate::activation::{clamp_f32, float_activation_range, FusedActivation};
use crate::{KernelResult, Shape4};

use super::for_each_broadcast;

/// `output = clamp(input1 · input2)` with 4-D broadcasting.
pub fn mul_f32(
    act: FusedActivation,
    shape1: Shape4,
    input1: &[f32],
    shape2: Shape4,
    input2: &[f32],
    output: &mut [f32],
) -> KernelResult {
    let (lo, hi) = float_activation_range(act);
    let len = output.len();
    for_each_broadcast(
        shape1,
        input1.len(),
        shape2,
        input2.len(),
        len,
        |a, b, o| {
            output[o] = clamp_f32(input1[a] * input2[b], lo, hi);
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplies_with_broadcast() {
        let mut out = [0f32; 6];
        mul_f32(
            FusedActivation::None,
            Shape4::new(1, 2, 1, 1),
            &[2.0, -1.0],
            Shape4::new(1, 1, 1, 3),
            &[1.0, 2.0, 3.0],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [2.0, 4.0, 6.0, -1.0, -2.0, -3.0]);
    }
}
