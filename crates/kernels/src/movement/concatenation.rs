//! CONCATENATION along any NHWC axis (TFLM `reference_ops::Concatenation`).
//!
//! The tensor is viewed as `[outer, axis · inner]`: each input contributes one contiguous
//! run of `axis_i · inner` elements per outer index. For int8, TFLM copies bytes without
//! requantizing even when an input's parameters differ from the output's; we do the same
//! (the converter assigns them equal parameters), and [`same_quantization`] lets a caller
//! check that assumption.

use crate::quantize::QuantParams;
use crate::{KernelError, KernelResult, Shape4};

fn dims(s: Shape4) -> [usize; 4] {
    [s.n, s.h, s.w, s.c]
}

/// The output shape of concatenating `shapes` along `axis` (0..4); all other dimensions must
/// match.
pub fn concat_shape(axis: usize, shapes: &[Shape4]) -> Result<Shape4, KernelError> {
    if axis > 3 || shapes.is_empty() {
        return Err(KernelError::BadParams);
    }
    let mut out = dims(shapes[0]);
    out[axis] = 0;
    for s in shapes {
        let d = dims(*s);
        for k in 0..4 {
            if k == axis {
                out[k] = out[k].checked_add(d[k]).ok_or(KernelError::BadParams)?;
            } else if d[k] != out[k] {
                return Err(KernelError::BadParams);
            }
        }
    }
    Ok(Shape4::new(out[0], out[1], out[2], out[3]))
}

/// True when every input shares the output's scale and zero point (what int8
/// CONCATENATION silently assumes).
pub fn same_quantization(inputs: &[QuantParams], output: QuantParams) -> bool {
    inputs
        .iter()
        .all(|q| q.scale == output.scale && q.zero_point == output.zero_point)
}

/// Concatenates `inputs` (each a shape and its dense NHWC data) along `axis` into `output`.
pub fn concatenation<T: Copy>(
    axis: usize,
    inputs: &[(Shape4, &[T])],
    output: &mut [T],
) -> KernelResult {
    let Some((first_shape, _)) = inputs.first() else {
        return Err(KernelError::BadParams);
    };
    if axis > 3 {
        return Err(KernelError::BadParams);
    }
    // Everything is validated before the first copy so a refused call leaves `output` as is.
    for (s, data) in inputs {
        if s.elements() != Some(data.len()) {
            return Err(KernelError::BufferSize);
        }
        let (d, f) = (dims(*s), dims(*first_shape));
        if (0..4).any(|j| j != axis && d[j] != f[j]) {
            return Err(KernelError::BadParams);
        }
    }
    let first = dims(inputs[0].0);
    let outer: usize = first[..axis].iter().product();
    let inner: usize = first[axis + 1..].iter().product();
    let total: usize = inputs.iter().map(|(_, d)| d.len()).sum();
    if total != output.len() {
        return Err(KernelError::BufferSize);
    }
    let mut o = 0;
    for i in 0..outer {
        for (s, data) in inputs {
            let run = dims(*s)[axis] * inner;
            output[o..o + run].copy_from_slice(&data[i * run..(i + 1) * run]);
            o += run;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenates_channels_and_rows() {
        let a = Shape4::new(1, 1, 2, 2);
        let b = Shape4::new(1, 1, 2, 1);
        assert_eq!(concat_shape(3, &[a, b]), Ok(Shape4::new(1, 1, 2, 3)));
        let mut y = [0i8; 6];
        concatenation(3, &[(a, &[1i8, 2, 3, 4][..]), (b, &[9i8, 8][..])], &mut y).unwrap();
        assert_eq!(y, [1, 2, 9, 3, 4, 8]);
        let mut z = [0f32; 8];
        concatenation(
            2,
            &[
                (a, &[1.0f32, 2.0, 3.0, 4.0][..]),
                (a, &[5.0, 6.0, 7.0, 8.0][..]),
            ],
            &mut z,
        )
        .unwrap();
        assert_eq!(z, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        let mut w = [0i8; 8];
        concatenation(
            0,
            &[(a, &[1i8, 2, 3, 4][..]), (a, &[5i8, 6, 7, 8][..])],
            &mut w,
        )
        .unwrap();
        assert_eq!(w, [1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn rejects_mismatches() {
        let a = Shape4::new(1, 1, 2, 2);
        let b = Shape4::new(1, 1, 3, 1);
        let mut y = [0i8; 7];
        assert_eq!(
            concatenation(
                3,
                &[(a, &[1i8, 2, 3, 4][..]), (b, &[9i8, 8, 7][..])],
                &mut y
            ),
            Err(KernelError::BadParams)
        );
        assert_eq!(concat_shape(3, &[a, b]), Err(KernelError::BadParams));
        assert_eq!(
            concatenation(3, &[(a, &[1i8, 2, 3][..])], &mut y[..3]),
            Err(KernelError::BufferSize)
        );
        assert_eq!(
            concatenation::<i8>(3, &[], &mut y),
            Err(KernelError::BadParams)
        );
        let q = QuantParams::new(0.1, 0);
        assert!(same_quantization(&[q, q], q));
        assert!(!same_quantization(&[q, QuantParams::new(0.2, 0)], q));
    }
}
