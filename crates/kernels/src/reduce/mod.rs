//! Reductions. Only MEAN is needed by the reference models (global average pooling written as
//! `MEAN(axis=[1,2], keep_dims)`); see [`mean_s8`] and [`mean_f32`].
//!
//! Shapes are NHWC [`crate::Shape4`]; a reduction is described by [`ReduceAxes`], one flag
//! per dimension. The output buffer holds the kept dimensions in NHWC order whether or not
//! the model keeps the reduced dimensions as size 1 (the layouts are identical).

pub mod mean_f32;
pub mod mean_s8;

use crate::{KernelError, Shape4};

/// Which of the four NHWC dimensions are reduced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReduceAxes(pub [bool; 4]);

impl ReduceAxes {
    /// From TFLite axis values for a 4-D tensor (negative values count from the end;
    /// duplicates are allowed, as in TFLite).
    pub fn from_tflite(axes: &[i32]) -> Result<Self, KernelError> {
        let mut r = [false; 4];
        for &a in axes {
            let a = if a < 0 { a + 4 } else { a };
            if !(0..4).contains(&a) {
                return Err(KernelError::BadParams);
            }
            r[a as usize] = true;
        }
        Ok(ReduceAxes(r))
    }

    /// The shape after reduction (reduced dims become 1).
    pub fn output_shape(&self, s: Shape4) -> Shape4 {
        let d = |keep: bool, v: usize| if keep { 1 } else { v };
        Shape4::new(
            d(self.0[0], s.n),
            d(self.0[1], s.h),
            d(self.0[2], s.w),
            d(self.0[3], s.c),
        )
    }

    /// Number of input elements folded into each output element.
    pub fn count(&self, s: Shape4) -> usize {
        let d = |red: bool, v: usize| if red { v } else { 1 };
        d(self.0[0], s.n) * d(self.0[1], s.h) * d(self.0[2], s.w) * d(self.0[3], s.c)
    }

    /// Calls `f(output_index, input_index)` for every input element, grouped by output
    /// element; within a group the input indices come in ascending (row-major) order, the
    /// order in which TFLite's `ReduceSumImpl` accumulates them.
    pub(crate) fn for_each(&self, s: Shape4, mut f: impl FnMut(usize, usize)) {
        let o = self.output_shape(s);
        let r = [
            s.n / o.n.max(1),
            s.h / o.h.max(1),
            s.w / o.w.max(1),
            s.c / o.c.max(1),
        ];
        let mut oi = 0;
        for n in 0..o.n {
            for y in 0..o.h {
                for x in 0..o.w {
                    for c in 0..o.c {
                        for rn in 0..r[0] {
                            for ry in 0..r[1] {
                                for rx in 0..r[2] {
                                    for rc in 0..r[3] {
                                        f(oi, s.offset(n + rn, y + ry, x + rx, c + rc));
                                    }
                                }
                            }
                        }
                        oi += 1;
                    }
                }
            }
        }
    }
}

/// Validates buffer lengths for a reduction of `shape` into `out_len` elements.
pub(crate) fn check_lengths(
    axes: &ReduceAxes,
    shape: Shape4,
    in_len: usize,
    out_len: usize,
) -> Result<usize, KernelError> {
    let e = shape.elements().ok_or(KernelError::BadParams)?;
    let o = axes
        .output_shape(shape)
        .elements()
        .ok_or(KernelError::BadParams)?;
    if e != in_len || o != out_len {
        return Err(KernelError::BufferSize);
    }
    Ok(axes.count(shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_resolve_and_iterate_in_order() {
        let a = ReduceAxes::from_tflite(&[-3, 2]).unwrap();
        assert_eq!(a, ReduceAxes([false, true, true, false]));
        assert!(ReduceAxes::from_tflite(&[4]).is_err());
        let s = Shape4::new(1, 2, 2, 2);
        let mut seen = [(0usize, 0usize); 8];
        let mut k = 0;
        a.for_each(s, |o, i| {
            seen[k] = (o, i);
            k += 1;
        });
        assert_eq!(
            seen,
            [
                (0, 0),
                (0, 2),
                (0, 4),
                (0, 6),
                (1, 1),
                (1, 3),
                (1, 5),
                (1, 7)
            ]
        );
        assert_eq!(a.count(s), 4);
    }
}
