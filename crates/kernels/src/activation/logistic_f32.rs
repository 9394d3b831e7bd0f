//! Float LOGISTIC (TFLite `reference_ops::Logistic` for float): saturates to 1 above
//! 16.619047, uses `exp(x)` below −9 (where `1/(1+e^−x)` ≈ `e^x`), else `1 / (1 + exp(−x))`.

use super::mathf::expf;
use crate::{KernelError, KernelResult};

/// Logistic of one value.
#[inline]
pub fn logistic_f32_one(x: f32) -> f32 {
    const CUTOFF_UPPER: f32 = 16.619_047;
    const CUTOFF_LOWER: f32 = -9.0;
    if x > CUTOFF_UPPER {
        1.0
    } else if x < CUTOFF_LOWER {
        expf(x)
    } else {
        1.0 / (1.0 + expf(-x))
    }
}

/// Elementwise float logistic.
pub fn logistic_f32(input: &[f32], output: &mut [f32]) -> KernelResult {
    if input.len() != output.len() {
        return Err(KernelError::BufferSize);
    }
    for (o, &x) in output.iter_mut().zip(input) {
        *o = logistic_f32_one(x);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_std() {
        let x: [f32; 200] = core::array::from_fn(|i| (i as f32 - 100.0) * 0.2);
        let mut y = [0f32; 200];
        logistic_f32(&x, &mut y).unwrap();
        for i in 0..200 {
            // Below −9 TFLite returns e^x itself (relative difference < 1.3e-4 there).
            let xi = x[i] as f64;
            let want = if x[i] < -9.0 {
                xi.exp()
            } else {
                1.0 / (1.0 + (-xi).exp())
            };
            assert!(((y[i] as f64 - want) / want).abs() < 1e-6, "{}", x[i]);
        }
        assert_eq!(logistic_f32_one(20.0), 1.0);
        assert_eq!(logistic_f32(&x, &mut y[..3]), Err(KernelError::BufferSize));
    }
}
