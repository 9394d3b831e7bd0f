//! 2-D pooling: average and max, int8 and float, TFLM reference semantics bit for bit
//! (`reference_integer_ops::{AveragePool, MaxPool}` and the float `reference_ops` versions).
//!
//! Windows are clipped to the input (padding never counts): the average divides by the number
//! of valid elements, int8 with TFLM's rounding `sum > 0 ? (sum + n/2)/n : (sum − n/2)/n`.
//! A window with no valid element is an error for average pools (TFLM fails the op) and
//! yields the clamped lowest value for max pools (as TFLM does). The fast variants run
//! channels innermost over the contiguous NHWC channel axis; they are byte-identical to the
//! reference loops (float sums per channel keep the reference tap order).

pub mod average_pool2d_f32;
pub mod average_pool2d_s8;
pub mod max_pool2d_f32;
pub mod max_pool2d_s8;

pub use average_pool2d_f32::{average_pool2d_f32, average_pool2d_f32_ref};
pub use average_pool2d_s8::{average_pool2d_s8, average_pool2d_s8_ref};
pub use max_pool2d_f32::{max_pool2d_f32, max_pool2d_f32_ref};
pub use max_pool2d_s8::{max_pool2d_s8, max_pool2d_s8_ref};

use crate::conv::quant::{activation_range_f32, activation_range_s8, FusedActivation};
use crate::conv::{elems, ConvGeometry};
use crate::{KernelError, KernelResult, Shape4};

/// Channel block of the fast variants' stack accumulators.
pub(crate) const BLOCK: usize = 64;

/// Window and geometry of a pool (`dilation` must be 1, as in TFLite).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolWindow {
    /// `[N, H, W, C]`.
    pub input_shape: Shape4,
    /// `[N, OH, OW, C]`.
    pub output_shape: Shape4,
    pub filter_h: usize,
    pub filter_w: usize,
    pub geometry: ConvGeometry,
}

impl PoolWindow {
    pub fn check(&self) -> KernelResult {
        self.geometry.check()?;
        let (i, o, g) = (self.input_shape, self.output_shape, self.geometry);
        if g.dilation_h != 1
            || g.dilation_w != 1
            || self.filter_h == 0
            || self.filter_w == 0
            || i.n != o.n
            || i.c != o.c
        {
            return Err(KernelError::BadParams);
        }
        Ok(())
    }

    fn check_buffers(&self, input: usize, output: usize) -> KernelResult {
        self.check()?;
        if input != elems(&self.input_shape)? || output != elems(&self.output_shape)? {
            return Err(KernelError::BufferSize);
        }
        Ok(())
    }

    /// Valid window `(y0, y1, x0, x1)` in filter coordinates for output `(oy, ox)`.
    #[inline(always)]
    pub(crate) fn taps(&self, oy: usize, ox: usize) -> (usize, usize, usize, usize) {
        let g = self.geometry;
        let (y0, y1) = ConvGeometry::tap_range(
            oy,
            g.stride_h,
            g.pad_h,
            1,
            self.filter_h,
            self.input_shape.h,
        );
        let (x0, x1) = ConvGeometry::tap_range(
            ox,
            g.stride_w,
            g.pad_w,
            1,
            self.filter_w,
            self.input_shape.w,
        );
        (y0, y1, x0, x1)
    }

    /// Input pixel offset (channel 0) of filter tap `(fy, fx)` of output `(b, oy, ox)`.
    #[inline(always)]
    pub(crate) fn pixel(&self, b: usize, oy: usize, ox: usize, fy: usize, fx: usize) -> usize {
        let g = self.geometry;
        self.input_shape.offset(
            b,
            oy * g.stride_h + fy - g.pad_h,
            ox * g.stride_w + fx - g.pad_w,
            0,
        )
    }
}

/// Int8 pool params: window plus the activation clamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolS8Params {
    pub window: PoolWindow,
    pub act_min: i32,
    pub act_max: i32,
}

impl PoolS8Params {
    /// TFLM's pool Prepare: the activation range from the output quantization.
    pub fn prepare(
        window: PoolWindow,
        output_scale: f32,
        output_zero_point: i32,
        activation: FusedActivation,
    ) -> Result<Self, KernelError> {
        let (act_min, act_max) = activation_range_s8(activation, output_scale, output_zero_point)?;
        let p = PoolS8Params {
            window,
            act_min,
            act_max,
        };
        p.check(None)?;
        Ok(p)
    }

    pub(crate) fn check(&self, bufs: Option<(usize, usize)>) -> KernelResult {
        // Bounds outside int8 never come from prepare and would wrap on store.
        if self.act_min > self.act_max || self.act_min < -128 || self.act_max > 127 {
            return Err(KernelError::BadParams);
        }
        match bufs {
            Some((i, o)) => self.window.check_buffers(i, o),
            None => self.window.check(),
        }
    }
}

/// Float pool params: window plus the activation clamp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoolF32Params {
    pub window: PoolWindow,
    pub act_min: f32,
    pub act_max: f32,
}

impl PoolF32Params {
    pub fn prepare(window: PoolWindow, activation: FusedActivation) -> Result<Self, KernelError> {
        let (act_min, act_max) = activation_range_f32(activation);
        let p = PoolF32Params {
            window,
            act_min,
            act_max,
        };
        p.check(None)?;
        Ok(p)
    }

    pub(crate) fn check(&self, bufs: Option<(usize, usize)>) -> KernelResult {
        if self
            .act_min
            .partial_cmp(&self.act_max)
            .is_none_or(|o| o.is_gt())
        {
            return Err(KernelError::BadParams);
        }
        match bufs {
            Some((i, o)) => self.window.check_buffers(i, o),
            None => self.window.check(),
        }
    }
}

/// Scratch bytes the pooling kernels need: none.
pub const fn scratch_size() -> usize {
    0
}

#[cfg(test)]
pub(crate) mod testcase {
    use super::*;
    use crate::conv::testutil::Rng;
    use crate::padding::Padding;

    /// A random pool window (SAME, VALID or explicit padding; windows never fully outside).
    pub(crate) fn random_window(r: &mut Rng) -> PoolWindow {
        let n = r.usize(1, 2);
        let (h, w, c) = (r.usize(1, 12), r.usize(1, 12), r.usize(1, 80));
        let (fh, fw) = (r.usize(1, 5), r.usize(1, 5));
        let stride = (r.usize(1, 3), r.usize(1, 3));
        let pad = if r.range(0, 1) == 0 {
            Padding::Same
        } else {
            Padding::Valid
        };
        let (g, oh, ow) = match ConvGeometry::from_padding(pad, (h, w), (fh, fw), stride, (1, 1)) {
            Ok((g, oh, ow)) if oh > 0 && ow > 0 => (g, oh, ow),
            _ => {
                ConvGeometry::from_padding(Padding::Same, (h, w), (fh, fw), stride, (1, 1)).unwrap()
            }
        };
        PoolWindow {
            input_shape: Shape4::new(n, h, w, c),
            output_shape: Shape4::new(n, oh, ow, c),
            filter_h: fh,
            filter_w: fw,
            geometry: g,
        }
    }
}
