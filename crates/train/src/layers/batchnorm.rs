//! Batch normalization over the last (channel) axis, with Keras' defaults (momentum 0.99,
//! epsilon 1e-3, biased batch variance for both normalization and the running average).
//! Training uses batch statistics: each batch chunk computes its mean and M2 in two passes
//! over cache-resident data, then chunks are merged in chunk order (Chan et al.), so results
//! are deterministic. Normalization and the fused activation are one pass; backward is one
//! reduction pass (which also applies the activation mask) and one element-wise pass.
//! Export folds BN into the preceding conv (`scale = gamma / sqrt(var + eps)`).

use rayon::prelude::*;

use crate::simd::vectorized;

use super::Activation;
use crate::error::{TrainError, TrainResult};
use crate::par::{chunk_size, num_chunks};
use crate::param::{ChannelAxis, Param};
use crate::tensor::Tensor;

/// Batch-normalization layer.
#[derive(Debug, Clone)]
pub struct BatchNorm {
    /// Channels.
    pub channels: usize,
    /// Running-average momentum (Keras: 0.99).
    pub momentum: f32,
    /// Variance epsilon (Keras: 1e-3).
    pub epsilon: f32,
    /// Fused activation.
    pub activation: Activation,
    /// Scale `[C]`.
    pub gamma: Param,
    /// Offset `[C]`.
    pub beta: Param,
    /// Running mean (used in inference and at export).
    pub running_mean: Vec<f32>,
    /// Running variance.
    pub running_var: Vec<f32>,
    mean: Vec<f32>,
    inv: Vec<f32>,
    coef: Vec<f32>,
    part: Vec<f32>,
}

impl BatchNorm {
    /// A BN layer with gamma 1, beta 0, running mean 0, running variance 1.
    pub fn new(channels: usize) -> Self {
        BatchNorm {
            channels,
            momentum: 0.99,
            epsilon: 1e-3,
            activation: Activation::None,
            gamma: Param::new(
                "gamma",
                &[channels],
                vec![1.0; channels],
                ChannelAxis::Outer,
                false,
            ),
            beta: Param::new(
                "beta",
                &[channels],
                vec![0.0; channels],
                ChannelAxis::Outer,
                false,
            ),
            running_mean: vec![0.0; channels],
            running_var: vec![1.0; channels],
            mean: Vec::new(),
            inv: Vec::new(),
            coef: Vec::new(),
            part: Vec::new(),
        }
    }

    /// Sets the fused activation.
    pub fn with_activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }

    /// Per-sample output shape (unchanged).
    pub fn out_shape(&self, input: &[usize]) -> TrainResult<Vec<usize>> {
        if input.last() != Some(&self.channels) {
            return Err(TrainError::Shape(format!(
                "batch norm expects {} channels, got {input:?}",
                self.channels
            )));
        }
        Ok(input.to_vec())
    }

    /// Forward pass (batch statistics when `train`, running statistics otherwise).
    pub fn forward(&mut self, x: &Tensor, y: &mut Tensor, train: bool) {
        let c = self.channels;
        let n = x.batch();
        y.reshape_to(n, &x.shape[1..]);
        let per = x.sample_len();
        let cs = chunk_size(n);
        let nch = num_chunks(n);
        self.mean.resize(c, 0.0);
        self.inv.resize(c, 0.0);
        if train {
            // per chunk: [count-free] mean (c) then M2 (c)
            self.part.resize(nch * 2 * c, 0.0);
            x.data
                .par_chunks(cs * per)
                .zip(self.part.par_chunks_mut(2 * c))
                .for_each(|(xc, p)| {
                    vectorized(
                        #[inline(always)]
                        || {
                            let rows = (xc.len() / c) as f32;
                            let (m, m2) = p.split_at_mut(c);
                            m.fill(0.0);
                            m2.fill(0.0);
                            for row in xc.chunks_exact(c) {
                                m.iter_mut().zip(row).for_each(|(a, v)| *a += v);
                            }
                            m.iter_mut().for_each(|a| *a /= rows);
                            for row in xc.chunks_exact(c) {
                                for ((a, v), mu) in m2.iter_mut().zip(row).zip(m.iter()) {
                                    let d = v - mu;
                                    *a += d * d;
                                }
                            }
                        },
                    )
                });
            let rows_per_sample = per / c;
            let mut count = 0f64;
            let mut mean = vec![0f64; 0];
            mean.resize(c, 0.0);
            let mut m2 = vec![0f64; 0];
            m2.resize(c, 0.0);
            for (i, p) in self.part.chunks_exact(2 * c).take(nch).enumerate() {
                let nb = (cs.min(n - i * cs) * rows_per_sample) as f64;
                let tot = count + nb;
                for ch in 0..c {
                    let mb = p[ch] as f64;
                    let d = mb - mean[ch];
                    mean[ch] += d * nb / tot;
                    m2[ch] += p[c + ch] as f64 + d * d * count * nb / tot;
                }
                count = tot;
            }
            for ch in 0..c {
                let var = (m2[ch] / count) as f32;
                let mu = mean[ch] as f32;
                self.mean[ch] = mu;
                self.inv[ch] = 1.0 / (var + self.epsilon).sqrt();
                self.running_mean[ch] =
                    self.momentum * self.running_mean[ch] + (1.0 - self.momentum) * mu;
                self.running_var[ch] =
                    self.momentum * self.running_var[ch] + (1.0 - self.momentum) * var;
            }
        } else {
            for ch in 0..c {
                self.mean[ch] = self.running_mean[ch];
                self.inv[ch] = 1.0 / (self.running_var[ch] + self.epsilon).sqrt();
            }
        }
        // y = x·scale + shift
        self.coef.resize(2 * c, 0.0);
        let gamma = self.gamma.w();
        let beta = self.beta.w();
        for ch in 0..c {
            let s = self.inv[ch] * gamma[ch];
            self.coef[ch] = s;
            self.coef[c + ch] = beta[ch] - self.mean[ch] * s;
        }
        let (scale, shift) = self.coef.split_at(c);
        let act = self.activation;
        y.data
            .par_chunks_mut(cs * per)
            .zip(x.data.par_chunks(cs * per))
            .for_each(|(yc, xc)| {
                vectorized(
                    #[inline(always)]
                    || {
                        for (yr, xr) in yc.chunks_exact_mut(c).zip(xc.chunks_exact(c)) {
                            for (((o, v), s), t) in yr.iter_mut().zip(xr).zip(scale).zip(shift) {
                                *o = v * s + t;
                            }
                            act.apply(yr);
                        }
                    },
                )
            });
    }

    /// Backward pass (training mode).
    pub fn backward(&mut self, x: &Tensor, y: &Tensor, gy: &mut Tensor, gx: Option<&mut Tensor>) {
        let c = self.channels;
        let n = x.batch();
        let per = x.sample_len();
        let cs = chunk_size(n);
        let nch = num_chunks(n);
        let act = self.activation;
        self.part.resize(nch * 2 * c, 0.0);
        let (mean, inv) = (&self.mean, &self.inv);
        gy.data
            .par_chunks_mut(cs * per)
            .zip(y.data.par_chunks(cs * per))
            .zip(x.data.par_chunks(cs * per))
            .zip(self.part.par_chunks_mut(2 * c))
            .for_each(|(((gc, yc), xc), p)| {
                vectorized(
                    #[inline(always)]
                    || {
                        let (db, dg) = p.split_at_mut(c);
                        db.fill(0.0);
                        dg.fill(0.0);
                        for ((gr, yr), xr) in gc
                            .chunks_exact_mut(c)
                            .zip(yc.chunks_exact(c))
                            .zip(xc.chunks_exact(c))
                        {
                            act.backward(yr, gr);
                            for ((((d_b, d_g), &g), &xv), (&mu, &iv)) in db
                                .iter_mut()
                                .zip(dg.iter_mut())
                                .zip(gr.iter())
                                .zip(xr)
                                .zip(mean.iter().zip(inv))
                            {
                                *d_b += g;
                                *d_g += g * (xv - mu) * iv;
                            }
                        }
                    },
                )
            });
        self.beta.grad.fill(0.0);
        self.gamma.grad.fill(0.0);
        for p in self.part.chunks_exact(2 * c).take(nch) {
            for ch in 0..c {
                self.beta.grad[ch] += p[ch];
                self.gamma.grad[ch] += p[c + ch];
            }
        }
        if let Some(gx) = gx {
            gx.reshape_to(n, &x.shape[1..]);
            let m = (n * per / c) as f32;
            let gamma = self.gamma.w();
            let (gamma_g, beta_g) = (&self.gamma.grad, &self.beta.grad);
            // gx = a·gy − b·x + k
            self.coef.resize(3 * c, 0.0);
            for ch in 0..c {
                let a = gamma[ch] * inv[ch];
                let b = a * inv[ch] * gamma_g[ch] / m;
                self.coef[ch] = a;
                self.coef[c + ch] = b;
                self.coef[2 * c + ch] = -a * beta_g[ch] / m + b * mean[ch];
            }
            let (a, rest) = self.coef.split_at(c);
            let (b, k) = rest.split_at(c);
            gx.data
                .par_chunks_mut(cs * per)
                .zip(gy.data.par_chunks(cs * per))
                .zip(x.data.par_chunks(cs * per))
                .for_each(|((gxc, gc), xc)| {
                    vectorized(
                        #[inline(always)]
                        || {
                            for ((gr, g), xr) in gxc
                                .chunks_exact_mut(c)
                                .zip(gc.chunks_exact(c))
                                .zip(xc.chunks_exact(c))
                            {
                                for ((o, (&gv, &xv)), ((&av, &bv), &kv)) in gr
                                    .iter_mut()
                                    .zip(g.iter().zip(xr))
                                    .zip(a.iter().zip(b).zip(k))
                                {
                                    *o = av * gv - bv * xv + kv;
                                }
                            }
                        },
                    )
                });
        }
    }
}
