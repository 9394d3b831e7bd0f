//! Float MEAN (TFLite `reference_ops::Mean`): per output, the `f32` sum of its inputs in
//! row-major order divided by the element count as `f32`.

use super::{check_lengths, ReduceAxes};
use crate::{KernelResult, Shape4};

/// Float MEAN of an NHWC `input` over `axes`.
pub fn mean_f32(
    axes: &ReduceAxes,
    shape: Shape4,
    input: &[f32],
    output: &mut [f32],
) -> KernelResult {
    let count = check_lengths(axes, shape, input.len(), output.len())?;
    if count == 0 {
        output.iter_mut().for_each(|o| *o = 0.0);
        return Ok(());
    }
    let (mut acc, mut k) = (0f32, 0usize);
    axes.for_each(shape, |o, i| {
        acc += input[i];
        k += 1;
        if k == count {
            output[o] = acc / count as f32;
            acc = 0.0;
            k = 0;
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KernelError;

    #[test]
    fn averages() {
        let axes = ReduceAxes::from_tflite(&[1, 2]).unwrap();
        let x = [1.0f32, 10.0, 2.0, 20.0, 3.0, 30.0, 6.0, 60.0];
        let mut y = [0f32; 2];
        mean_f32(&axes, Shape4::new(1, 2, 2, 2), &x, &mut y).unwrap();
        assert_eq!(y, [3.0, 30.0]);
        let c = ReduceAxes::from_tflite(&[-1]).unwrap();
        let mut z = [0f32; 4];
        mean_f32(&c, Shape4::new(1, 2, 2, 2), &x, &mut z).unwrap();
        assert_eq!(z, [5.5, 11.0, 16.5, 33.0]);
        assert_eq!(
            mean_f32(&c, Shape4::new(1, 2, 2, 2), &x, &mut y),
            Err(KernelError::BufferSize)
        );
    }
}
