//! Float SOFTMAX with `beta` (TFLite `reference_ops::Softmax` for float): per row,
//! `exp((x − max) · beta) / sum`, each step in `f32` and in the reference's order.

use super::mathf::expf;
use crate::{KernelError, KernelResult};

/// Softmax over rows of length `depth` (the last dimension).
pub fn softmax_f32(beta: f32, depth: usize, input: &[f32], output: &mut [f32]) -> KernelResult {
    if depth == 0 || input.len() != output.len() || !input.len().is_multiple_of(depth) {
        return Err(KernelError::BufferSize);
    }
    for (row, out) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        let max = row
            .iter()
            .copied()
            .fold(f32::MIN, |m, v| if m < v { v } else { m });
        let mut sum = 0f32;
        for (o, &x) in out.iter_mut().zip(row) {
            let e = expf((x - max) * beta);
            *o = e;
            sum += e;
        }
        for o in out.iter_mut() {
            *o /= sum;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_std_softmax() {
        let x = [1.0f32, 2.0, 3.0, -1.0, 0.5, 0.5, 0.5, 0.5];
        let mut y = [0f32; 8];
        softmax_f32(0.7, 4, &x, &mut y).unwrap();
        for r in 0..2 {
            let row = &x[r * 4..r * 4 + 4];
            let m = row.iter().cloned().fold(f32::MIN, f32::max);
            let s: f64 = row.iter().map(|&v| (((v - m) * 0.7) as f64).exp()).sum();
            for c in 0..4 {
                let want = (((row[c] - m) * 0.7) as f64).exp() / s;
                assert!((y[r * 4 + c] as f64 - want).abs() < 1e-6);
            }
        }
        assert_eq!(&y[4..], &[0.25; 4]);
        assert_eq!(
            softmax_f32(1.0, 3, &x, &mut y),
            Err(KernelError::BufferSize)
        );
    }
}
