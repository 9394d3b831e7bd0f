//! Float ADD with broadcasting and a fused activation clamp (TFLite reference float add).

use crate::activation::{clamp_f32, float_activation_range, FusedActivation};
use crate::{KernelResult, Shape4};

use super::for_each_broadcast;

/// `output = clamp(input1 + input2)` with 4-D broadcasting.
pub fn add_f32(
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
            output[o] = clamp_f32(input1[a] + input2[b], lo, hi);
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KernelError;

    #[test]
    fn adds_with_broadcast_and_relu6() {
        let mut out = [0f32; 4];
        add_f32(
            FusedActivation::Relu6,
            Shape4::new(1, 2, 2, 1),
            &[1.0, -3.0, 4.0, 5.5],
            Shape4::new(1, 1, 1, 1),
            &[1.0],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [2.0, 0.0, 5.0, 6.0]);
        assert_eq!(
            add_f32(
                FusedActivation::None,
                Shape4::new(1, 2, 2, 1),
                &[1.0; 4],
                Shape4::new(1, 1, 1, 1),
                &[1.0],
                &mut out[..3],
            ),
            Err(KernelError::BufferSize)
        );
    }
}
