//! Owned NHWC f32 tensors: a flat buffer plus a shape. The batch axis is always first, the
//! channel axis always last (TFLite's layout), so a per-sample slice is contiguous.
//! Buffers are resized in place (`reshape_to`), which never reallocates once the largest batch
//! has been seen: this is how the engine avoids per-step allocation.

use crate::error::{TrainError, TrainResult};

/// A dense row-major f32 tensor, `shape[0]` is the batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first (`[N, H, W, C]` or `[N, F]`).
    pub shape: Vec<usize>,
    /// Row-major values, `shape.iter().product()` of them.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Tensor {
            shape: shape.to_vec(),
            data: vec![0.0; shape.iter().product()],
        }
    }

    /// Wraps a buffer; fails when the length does not match the shape.
    pub fn from_vec(shape: &[usize], data: Vec<f32>) -> TrainResult<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(TrainError::Shape(format!(
                "shape {shape:?} needs {n} values, got {}",
                data.len()
            )));
        }
        Ok(Tensor {
            shape: shape.to_vec(),
            data,
        })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Batch size (first dimension, 0 for a scalar-less tensor).
    pub fn batch(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// Elements per sample (product of all but the first dimension).
    pub fn sample_len(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    /// Gives the tensor the shape `[n] ++ sample`, reusing the buffer's capacity. Contents are
    /// unspecified afterwards (callers overwrite them).
    pub fn reshape_to(&mut self, n: usize, sample: &[usize]) {
        if self.shape.len() != sample.len() + 1 || self.shape[0] != n || self.shape[1..] != *sample
        {
            self.shape.clear();
            self.shape.push(n);
            self.shape.extend_from_slice(sample);
        }
        let len = n * sample.iter().product::<usize>();
        self.data.resize(len, 0.0);
    }
}
