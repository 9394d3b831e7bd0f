//! Trainable parameter tensors and the two hooks later stages plug into them:
//! a pruning [`Mask`] and weight fake-quantization ([`WeightFakeQuant`], QAT), plus the
//! activation fake-quantizer [`ActFakeQuant`] that a model node may carry.
//!
//! Invariants: when a mask is set, masked weights are exactly 0 in the forward pass, their
//! gradients are exactly 0, and [`Param::apply_mask`] (called by the optimizers after every
//! update) keeps the stored values at exactly 0. Fake-quantized weights use a per-channel
//! symmetric scale `max|w_c| / qmax`, so every weight is inside the clipping range and the
//! straight-through estimator passes every gradient; activations use a per-tensor asymmetric
//! range tracked by a moving average, and gradients of values outside it are blocked.

/// Which axis of a weight tensor is the output channel (for per-channel quantization).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelAxis {
    /// First axis: conv `[O,KH,KW,I]`, dense `[O,I]`, biases `[O]`.
    Outer,
    /// Last axis: depthwise `[1,KH,KW,C]`.
    Inner,
}

/// A pruning mask: 1.0 keeps a weight, 0.0 removes it. Same length as the parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    /// One value per weight, each exactly 0.0 or 1.0.
    pub keep: Vec<f32>,
}

impl Mask {
    /// A mask keeping every weight.
    pub fn ones(len: usize) -> Self {
        Mask {
            keep: vec![1.0; len],
        }
    }
    /// Fraction of removed weights.
    pub fn sparsity(&self) -> f32 {
        if self.keep.is_empty() {
            return 0.0;
        }
        self.keep.iter().filter(|&&k| k == 0.0).count() as f32 / self.keep.len() as f32
    }
}

/// Per-channel symmetric weight fake-quantization (TFLite int8 weight scheme, also int4/int2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightFakeQuant {
    /// Bit width: 8, 4 or 2 (any 2..=8 works).
    pub bits: u8,
}

impl WeightFakeQuant {
    /// Largest quantized magnitude: 127 for int8, 7 for int4, 1 for int2.
    pub fn qmax(&self) -> f32 {
        ((1i32 << (self.bits.clamp(2, 16) - 1)) - 1) as f32
    }
}

/// Per-tensor asymmetric activation fake-quantization with moving-average min/max.
#[derive(Debug, Clone, PartialEq)]
pub struct ActFakeQuant {
    /// Bit width (8 for int8).
    pub bits: u8,
    /// Moving-average factor for the range (Keras/TF QAT uses 0.999; 0.99 adapts faster).
    pub momentum: f32,
    /// Tracked range minimum (always ≤ 0 so that 0 is representable).
    pub min: f32,
    /// Tracked range maximum (always ≥ 0).
    pub max: f32,
    /// False until the first training batch has set the range.
    pub initialized: bool,
    /// Per-element STE pass flags of the last training forward (1 inside the range).
    pub(crate) pass: Vec<u8>,
}

impl ActFakeQuant {
    /// An int-`bits` quantizer with the given moving-average momentum.
    pub fn new(bits: u8, momentum: f32) -> Self {
        ActFakeQuant {
            bits,
            momentum,
            min: 0.0,
            max: 0.0,
            initialized: false,
            pass: Vec::new(),
        }
    }

    /// The (scale, zero_point) the current range maps to, TFLite-style nudged so that 0.0 is
    /// exactly representable.
    pub fn scale_zero_point(&self) -> (f32, i32) {
        let qmin = 0.0f32;
        let qmax = ((1u32 << self.bits.clamp(2, 16)) - 1) as f32;
        let (lo, hi) = (self.min.min(0.0), self.max.max(0.0));
        let scale = ((hi - lo) / (qmax - qmin)).max(1e-12);
        let zp = (qmin - lo / scale).round().clamp(qmin, qmax);
        (scale, zp as i32)
    }

    /// Quantize-dequantize `x` in place. In training mode the range is first updated from the
    /// batch and STE pass flags are recorded for [`ActFakeQuant::backward`].
    pub fn forward(&mut self, x: &mut [f32], train: bool) {
        if train {
            let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
            for &v in x.iter() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
            if !lo.is_finite() || !hi.is_finite() {
                return;
            }
            if self.initialized {
                self.min = self.momentum * self.min + (1.0 - self.momentum) * lo;
                self.max = self.momentum * self.max + (1.0 - self.momentum) * hi;
            } else {
                self.min = lo;
                self.max = hi;
                self.initialized = true;
            }
        }
        if !self.initialized {
            return;
        }
        let (scale, zp) = self.scale_zero_point();
        let qmax = ((1u32 << self.bits.clamp(2, 16)) - 1) as f32;
        let zp = zp as f32;
        let lo = (0.0 - zp) * scale;
        let hi = (qmax - zp) * scale;
        if train {
            self.pass.resize(x.len(), 0);
            for (v, p) in x.iter().zip(self.pass.iter_mut()) {
                *p = u8::from(*v >= lo && *v <= hi);
            }
        }
        for v in x.iter_mut() {
            let q = (*v / scale + zp).round().clamp(0.0, qmax);
            *v = (q - zp) * scale;
        }
    }

    /// Straight-through estimator: zero the gradient of values that were clipped.
    pub fn backward(&self, g: &mut [f32]) {
        if self.pass.len() != g.len() {
            return;
        }
        for (gv, &p) in g.iter_mut().zip(&self.pass) {
            if p == 0 {
                *gv = 0.0;
            }
        }
    }
}

/// A trainable tensor: value, gradient, and the optional pruning / QAT hooks.
#[derive(Debug, Clone)]
pub struct Param {
    /// Name unique within its layer (`kernel`, `bias`, `gamma`, `beta`).
    pub name: String,
    /// Shape in TFLite layout.
    pub shape: Vec<usize>,
    /// The stored (latent, float) values.
    pub value: Vec<f32>,
    /// Gradient of the loss with respect to the effective values, after the last backward.
    pub grad: Vec<f32>,
    /// Output-channel axis, for per-channel fake-quantization.
    pub channel_axis: ChannelAxis,
    /// Whether optimizers apply weight decay (kernels yes; biases and BN parameters no).
    pub decay: bool,
    /// Pruning mask (None: dense).
    pub mask: Option<Mask>,
    /// Weight fake-quantization for QAT (None: float).
    pub fake_quant: Option<WeightFakeQuant>,
    eff: Vec<f32>,
}

impl Param {
    /// A parameter with the given values.
    pub fn new(
        name: &str,
        shape: &[usize],
        value: Vec<f32>,
        axis: ChannelAxis,
        decay: bool,
    ) -> Self {
        let n = value.len();
        debug_assert_eq!(n, shape.iter().product::<usize>());
        Param {
            name: name.to_string(),
            shape: shape.to_vec(),
            value,
            grad: vec![0.0; n],
            channel_axis: axis,
            decay,
            mask: None,
            fake_quant: None,
            eff: Vec::new(),
        }
    }

    /// Number of scalars.
    pub fn len(&self) -> usize {
        self.value.len()
    }

    /// True for an empty parameter.
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// Computes the effective weights (masked, then fake-quantized) for this step.
    pub fn prepare(&mut self) {
        if self.mask.is_none() && self.fake_quant.is_none() {
            return;
        }
        self.eff.clear();
        self.eff.extend_from_slice(&self.value);
        if let Some(m) = &self.mask {
            for (e, k) in self.eff.iter_mut().zip(&m.keep) {
                *e *= k;
            }
        }
        if let Some(fq) = self.fake_quant {
            fake_quant_per_channel(&mut self.eff, &self.shape, self.channel_axis, fq.qmax());
        }
    }

    /// The weights the forward pass uses: `value`, or its masked / fake-quantized copy.
    pub fn w(&self) -> &[f32] {
        if (self.mask.is_some() || self.fake_quant.is_some()) && self.eff.len() == self.value.len()
        {
            &self.eff
        } else {
            &self.value
        }
    }

    /// Zeroes the gradient of masked weights (STE for fake-quant passes all gradients, since
    /// the per-channel scale covers every weight).
    pub fn finish_grad(&mut self) {
        if let Some(m) = &self.mask {
            for (g, k) in self.grad.iter_mut().zip(&m.keep) {
                *g *= k;
            }
        }
    }

    /// Forces masked stored values back to exactly 0 (after an optimizer update).
    pub fn apply_mask(&mut self) {
        if let Some(m) = &self.mask {
            for (v, k) in self.value.iter_mut().zip(&m.keep) {
                if *k == 0.0 {
                    *v = 0.0;
                }
            }
        }
    }
}

/// Symmetric per-channel quantize-dequantize in place.
pub fn fake_quant_per_channel(w: &mut [f32], shape: &[usize], axis: ChannelAxis, qmax: f32) {
    let quant = |v: &mut f32, scale: f32| {
        if scale > 0.0 {
            *v = (*v / scale).round().clamp(-qmax, qmax) * scale;
        } else {
            *v = 0.0;
        }
    };
    match axis {
        ChannelAxis::Outer => {
            let ch = shape.first().copied().unwrap_or(1).max(1);
            let per = w.len() / ch;
            if per == 0 {
                return;
            }
            for c in w.chunks_mut(per) {
                let m = c.iter().fold(0.0f32, |a, v| a.max(v.abs()));
                let s = m / qmax;
                c.iter_mut().for_each(|v| quant(v, s));
            }
        }
        ChannelAxis::Inner => {
            let ch = shape.last().copied().unwrap_or(1).max(1);
            let mut maxes = vec![0.0f32; ch];
            for row in w.chunks(ch) {
                for (m, v) in maxes.iter_mut().zip(row) {
                    *m = m.max(v.abs());
                }
            }
            for row in w.chunks_mut(ch) {
                for (v, m) in row.iter_mut().zip(&maxes) {
                    quant(v, m / qmax);
                }
            }
        }
    }
}
