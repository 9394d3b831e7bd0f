//! Binary elementwise kernels (ADD, MUL) with TFLite's 4-D broadcasting.
//!
//! Broadcasting follows TFLM's `NdArrayDescsForElementwiseBroadcast`: shapes are compared
//! dimension by dimension (NHWC, lower ranks padded with leading 1s by the caller); each
//! dimension must be equal or 1 in one operand, and a 1 is read with stride 0. Same-shape
//! inputs take a flat loop; the arithmetic per element is identical on both paths.

pub mod add_f32;
pub mod add_s8;
pub mod mul_f32;
pub mod mul_s8;

use crate::{KernelError, Shape4};

/// The output shape of broadcasting `a` with `b`, or `BadParams` if they are incompatible.
pub fn broadcast_shape(a: Shape4, b: Shape4) -> Result<Shape4, KernelError> {
    fn dim(x: usize, y: usize) -> Result<usize, KernelError> {
        if x == y || y == 1 {
            Ok(x)
        } else if x == 1 {
            Ok(y)
        } else {
            Err(KernelError::BadParams)
        }
    }
    Ok(Shape4::new(
        dim(a.n, b.n)?,
        dim(a.h, b.h)?,
        dim(a.w, b.w)?,
        dim(a.c, b.c)?,
    ))
}

/// Strides of a dense NHWC shape with broadcast (size-1) dimensions given stride 0.
fn broadcast_strides(s: Shape4) -> [usize; 4] {
    let z = |d: usize, st: usize| if d == 1 { 0 } else { st };
    [
        z(s.n, s.h * s.w * s.c),
        z(s.h, s.w * s.c),
        z(s.w, s.c),
        z(s.c, 1),
    ]
}

/// Validates buffer sizes and calls `f(i1, i2, o)` for every output element in NHWC order.
/// Returns the output shape.
pub(crate) fn for_each_broadcast(
    s1: Shape4,
    len1: usize,
    s2: Shape4,
    len2: usize,
    len_out: usize,
    mut f: impl FnMut(usize, usize, usize),
) -> Result<Shape4, KernelError> {
    let out = broadcast_shape(s1, s2)?;
    let e1 = s1.elements().ok_or(KernelError::BadParams)?;
    let e2 = s2.elements().ok_or(KernelError::BadParams)?;
    let eo = out.elements().ok_or(KernelError::BadParams)?;
    if e1 != len1 || e2 != len2 || eo != len_out {
        return Err(KernelError::BufferSize);
    }
    if s1 == s2 {
        for i in 0..eo {
            f(i, i, i);
        }
        return Ok(out);
    }
    let st1 = broadcast_strides(s1);
    let st2 = broadcast_strides(s2);
    let mut o = 0;
    for n in 0..out.n {
        for y in 0..out.h {
            for x in 0..out.w {
                let b1 = n * st1[0] + y * st1[1] + x * st1[2];
                let b2 = n * st2[0] + y * st2[1] + x * st2[2];
                for c in 0..out.c {
                    f(b1 + c * st1[3], b2 + c * st2[3], o);
                    o += 1;
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_shapes() {
        let a = Shape4::new(1, 4, 1, 3);
        let b = Shape4::new(2, 1, 5, 1);
        assert_eq!(broadcast_shape(a, b), Ok(Shape4::new(2, 4, 5, 3)));
        assert_eq!(broadcast_shape(a, Shape4::new(1, 1, 1, 1)), Ok(a));
        assert_eq!(
            broadcast_shape(a, Shape4::new(1, 3, 1, 3)),
            Err(KernelError::BadParams)
        );
    }

    #[test]
    fn broadcast_indices() {
        let mut seen = [(0usize, 0usize); 6];
        for_each_broadcast(
            Shape4::new(1, 2, 1, 1),
            2,
            Shape4::new(1, 1, 1, 3),
            3,
            6,
            |a, b, o| seen[o] = (a, b),
        )
        .unwrap();
        assert_eq!(seen, [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
        assert_eq!(
            for_each_broadcast(
                Shape4::new(1, 2, 1, 1),
                2,
                Shape4::new(1, 1, 1, 3),
                3,
                5,
                |_, _, _| {}
            ),
            Err(KernelError::BufferSize)
        );
    }
}
