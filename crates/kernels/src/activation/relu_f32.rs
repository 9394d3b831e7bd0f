//! Float RELU, RELU6 and RELU_N1_TO_1 (TFLite reference float activations).

use super::{clamp_f32, float_activation_range, FusedActivation};
use crate::{KernelError, KernelResult};

/// Applies `act` elementwise (RELU: `max(0, x)`, RELU6: `min(max(0, x), 6)`, …).
pub fn relu_f32(act: FusedActivation, input: &[f32], output: &mut [f32]) -> KernelResult {
    if input.len() != output.len() {
        return Err(KernelError::BufferSize);
    }
    let (lo, hi) = float_activation_range(act);
    for (o, &x) in output.iter_mut().zip(input) {
        *o = clamp_f32(x, lo, hi);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps() {
        let x = [-1.0f32, 0.5, 7.0];
        let mut y = [0f32; 3];
        relu_f32(FusedActivation::Relu, &x, &mut y).unwrap();
        assert_eq!(y, [0.0, 0.5, 7.0]);
        relu_f32(FusedActivation::Relu6, &x, &mut y).unwrap();
        assert_eq!(y, [0.0, 0.5, 6.0]);
        relu_f32(FusedActivation::ReluN1To1, &x, &mut y).unwrap();
        assert_eq!(y, [-1.0, 0.5, 1.0]);
        assert_eq!(
            relu_f32(FusedActivation::Relu, &x, &mut y[..2]),
            Err(KernelError::BufferSize)
        );
    }
}
