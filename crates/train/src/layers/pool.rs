//! Pooling layers: average and max pooling over windows (TensorFlow padding semantics; padded
//! positions are excluded from averages and never win a max), and global average pooling
//! `[H,W,C] → [C]`. Parallel across batch chunks; no cross-sample reductions, so no partials.

use rayon::prelude::*;

use crate::simd::{self, vectorized};

use super::{Geom, Padding};
use crate::error::{TrainError, TrainResult};
use crate::par::chunk_size;
use crate::tensor::Tensor;

/// Average pooling.
#[derive(Debug, Clone)]
pub struct AvgPool {
    /// Window (height, width).
    pub pool: (usize, usize),
    /// Stride (height, width).
    pub stride: (usize, usize),
    /// Padding mode.
    pub padding: Padding,
    geom: Geom,
}

/// Max pooling.
#[derive(Debug, Clone)]
pub struct MaxPool {
    /// Window (height, width).
    pub pool: (usize, usize),
    /// Stride (height, width).
    pub stride: (usize, usize),
    /// Padding mode.
    pub padding: Padding,
    geom: Geom,
    argmax: Vec<u32>,
}

/// Global average pooling.
#[derive(Debug, Clone, Default)]
pub struct GlobalAvgPool {
    hw: usize,
}

impl AvgPool {
    /// Average pooling with the given window, stride and padding.
    pub fn new(pool: (usize, usize), stride: (usize, usize), padding: Padding) -> Self {
        AvgPool {
            pool,
            stride,
            padding,
            geom: Geom::default(),
        }
    }

    /// Per-sample output shape.
    pub fn out_shape(&self, input: &[usize]) -> TrainResult<Vec<usize>> {
        let g = Geom::new(input, self.pool, self.stride, self.padding)?;
        Ok(vec![g.oh, g.ow, g.c])
    }

    /// Forward pass.
    pub fn forward(&mut self, x: &Tensor, y: &mut Tensor, _train: bool) {
        let g = Geom::new(&x.shape[1..], self.pool, self.stride, self.padding).expect("validated");
        self.geom = g;
        let n = x.batch();
        let c = g.c;
        y.reshape_to(n, &[g.oh, g.ow, c]);
        let (il, ol) = (g.h * g.w * c, g.oh * g.ow * c);
        let cs = chunk_size(n);
        y.data
            .par_chunks_mut(cs * ol)
            .zip(x.data.par_chunks(cs * il))
            .for_each(|(yc, xc)| {
                vectorized(
                    #[inline(always)]
                    || {
                        for (ys, xs) in yc.chunks_exact_mut(ol).zip(xc.chunks_exact(il)) {
                            for oy in 0..g.oh {
                                let (h0, h1) = g.kh_range(oy);
                                for ox in 0..g.ow {
                                    let (k0, k1) = g.kw_range(ox);
                                    let out = &mut ys[(oy * g.ow + ox) * c..][..c];
                                    out.fill(0.0);
                                    for ky in h0..h1 {
                                        let iy = oy * g.sh + ky - g.pt;
                                        for kx in k0..k1 {
                                            let ix = ox * g.sw + kx - g.pl;
                                            let xin = &xs[(iy * g.w + ix) * c..][..c];
                                            out.iter_mut().zip(xin).for_each(|(o, v)| *o += v);
                                        }
                                    }
                                    let cnt = ((h1 - h0) * (k1 - k0)).max(1) as f32;
                                    out.iter_mut().for_each(|o| *o /= cnt);
                                }
                            }
                        }
                    },
                )
            });
    }

    /// Backward pass.
    pub fn backward(&mut self, _x: &Tensor, _y: &Tensor, gy: &mut Tensor, gx: Option<&mut Tensor>) {
        let Some(gx) = gx else { return };
        let g = self.geom;
        let n = gy.batch();
        let c = g.c;
        gx.reshape_to(n, &[g.h, g.w, c]);
        let (il, ol) = (g.h * g.w * c, g.oh * g.ow * c);
        let cs = chunk_size(n);
        gx.data
            .par_chunks_mut(cs * il)
            .zip(gy.data.par_chunks(cs * ol))
            .for_each(|(gxc, gc)| {
                vectorized(
                    #[inline(always)]
                    || {
                        gxc.fill(0.0);
                        for (gxs, gs) in gxc.chunks_exact_mut(il).zip(gc.chunks_exact(ol)) {
                            for oy in 0..g.oh {
                                let (h0, h1) = g.kh_range(oy);
                                for ox in 0..g.ow {
                                    let (k0, k1) = g.kw_range(ox);
                                    let go = &gs[(oy * g.ow + ox) * c..][..c];
                                    let inv = 1.0 / ((h1 - h0) * (k1 - k0)).max(1) as f32;
                                    for ky in h0..h1 {
                                        let iy = oy * g.sh + ky - g.pt;
                                        for kx in k0..k1 {
                                            let ix = ox * g.sw + kx - g.pl;
                                            let gi = &mut gxs[(iy * g.w + ix) * c..][..c];
                                            gi.iter_mut().zip(go).for_each(|(d, v)| *d += v * inv);
                                        }
                                    }
                                }
                            }
                        }
                    },
                )
            });
    }
}

impl MaxPool {
    /// Max pooling with the given window, stride and padding.
    pub fn new(pool: (usize, usize), stride: (usize, usize), padding: Padding) -> Self {
        MaxPool {
            pool,
            stride,
            padding,
            geom: Geom::default(),
            argmax: Vec::new(),
        }
    }

    /// Per-sample output shape.
    pub fn out_shape(&self, input: &[usize]) -> TrainResult<Vec<usize>> {
        let g = Geom::new(input, self.pool, self.stride, self.padding)?;
        Ok(vec![g.oh, g.ow, g.c])
    }

    /// Forward pass (records the winning input index of every output for backward).
    pub fn forward(&mut self, x: &Tensor, y: &mut Tensor, _train: bool) {
        let g = Geom::new(&x.shape[1..], self.pool, self.stride, self.padding).expect("validated");
        self.geom = g;
        let n = x.batch();
        let c = g.c;
        y.reshape_to(n, &[g.oh, g.ow, c]);
        let (il, ol) = (g.h * g.w * c, g.oh * g.ow * c);
        self.argmax.resize(n * ol, 0);
        let cs = chunk_size(n);
        y.data
            .par_chunks_mut(cs * ol)
            .zip(self.argmax.par_chunks_mut(cs * ol))
            .zip(x.data.par_chunks(cs * il))
            .for_each(|((yc, ac), xc)| {
                vectorized(
                    #[inline(always)]
                    || {
                        for ((ys, as_), xs) in yc
                            .chunks_exact_mut(ol)
                            .zip(ac.chunks_exact_mut(ol))
                            .zip(xc.chunks_exact(il))
                        {
                            for oy in 0..g.oh {
                                let (h0, h1) = g.kh_range(oy);
                                for ox in 0..g.ow {
                                    let (k0, k1) = g.kw_range(ox);
                                    let at = (oy * g.ow + ox) * c;
                                    let out = &mut ys[at..][..c];
                                    let arg = &mut as_[at..][..c];
                                    out.fill(f32::NEG_INFINITY);
                                    for ky in h0..h1 {
                                        let iy = oy * g.sh + ky - g.pt;
                                        for kx in k0..k1 {
                                            let ix = ox * g.sw + kx - g.pl;
                                            let base = (iy * g.w + ix) * c;
                                            let xin = &xs[base..][..c];
                                            for (ch, ((o, a), &v)) in out
                                                .iter_mut()
                                                .zip(arg.iter_mut())
                                                .zip(xin)
                                                .enumerate()
                                            {
                                                if v > *o {
                                                    *o = v;
                                                    *a = (base + ch) as u32;
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    },
                )
            });
    }

    /// Backward pass: routes each output gradient to its recorded argmax.
    pub fn backward(&mut self, _x: &Tensor, _y: &Tensor, gy: &mut Tensor, gx: Option<&mut Tensor>) {
        let Some(gx) = gx else { return };
        let g = self.geom;
        let n = gy.batch();
        let c = g.c;
        gx.reshape_to(n, &[g.h, g.w, c]);
        let (il, ol) = (g.h * g.w * c, g.oh * g.ow * c);
        let cs = chunk_size(n);
        gx.data
            .par_chunks_mut(cs * il)
            .zip(gy.data.par_chunks(cs * ol))
            .zip(self.argmax.par_chunks(cs * ol))
            .for_each(|((gxc, gc), ac)| {
                vectorized(
                    #[inline(always)]
                    || {
                        gxc.fill(0.0);
                        for ((gxs, gs), as_) in gxc
                            .chunks_exact_mut(il)
                            .zip(gc.chunks_exact(ol))
                            .zip(ac.chunks_exact(ol))
                        {
                            for (&gv, &a) in gs.iter().zip(as_) {
                                gxs[a as usize] += gv;
                            }
                        }
                    },
                )
            });
    }
}

impl GlobalAvgPool {
    /// Global average pooling.
    pub fn new() -> Self {
        GlobalAvgPool::default()
    }

    /// Per-sample output shape `[C]`.
    pub fn out_shape(&self, input: &[usize]) -> TrainResult<Vec<usize>> {
        match input {
            [h, w, c] if h * w > 0 => Ok(vec![*c]),
            _ => Err(TrainError::Shape(format!(
                "global pool needs [H,W,C], got {input:?}"
            ))),
        }
    }

    /// Forward pass.
    pub fn forward(&mut self, x: &Tensor, y: &mut Tensor, _train: bool) {
        let n = x.batch();
        let c = x.shape[3];
        let hw = x.shape[1] * x.shape[2];
        self.hw = hw;
        y.reshape_to(n, &[c]);
        let inv = 1.0 / hw as f32;
        y.data
            .par_chunks_mut(c)
            .zip(x.data.par_chunks(hw * c))
            .for_each(|(o, xs)| {
                vectorized(
                    #[inline(always)]
                    || {
                        o.fill(0.0);
                        for row in xs.chunks_exact(c) {
                            simd::add(o, row);
                        }
                        o.iter_mut().for_each(|a| *a *= inv);
                    },
                )
            });
    }

    /// Backward pass.
    pub fn backward(&mut self, x: &Tensor, _y: &Tensor, gy: &mut Tensor, gx: Option<&mut Tensor>) {
        let Some(gx) = gx else { return };
        let n = x.batch();
        let c = x.shape[3];
        gx.reshape_to(n, &x.shape[1..]);
        let inv = 1.0 / self.hw as f32;
        gx.data
            .par_chunks_mut(self.hw * c)
            .zip(gy.data.par_chunks(c))
            .for_each(|(gs, g)| {
                vectorized(
                    #[inline(always)]
                    || {
                        for row in gs.chunks_exact_mut(c) {
                            simd::scale_to(row, g, inv);
                        }
                    },
                )
            });
    }
}
