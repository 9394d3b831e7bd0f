//! Float TANH (TFLite `reference_ops::Tanh`: `std::tanh` per element; here [`super::mathf::tanhf`]).

use super::mathf::tanhf;
use crate::{KernelError, KernelResult};

/// Elementwise float tanh.
pub fn tanh_f32(input: &[f32], output: &mut [f32]) -> KernelResult {
    if input.len() != output.len() {
        return Err(KernelError::BufferSize);
    }
    for (o, &x) in output.iter_mut().zip(input) {
        *o = tanhf(x);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_std() {
        let x = [-3.0f32, -0.1, 0.0, 0.5, 2.0];
        let mut y = [0f32; 5];
        tanh_f32(&x, &mut y).unwrap();
        for i in 0..5 {
            assert!((y[i] - x[i].tanh()).abs() <= 1e-6 * x[i].tanh().abs());
        }
        assert_eq!(tanh_f32(&x, &mut y[..1]), Err(KernelError::BufferSize));
    }
}
