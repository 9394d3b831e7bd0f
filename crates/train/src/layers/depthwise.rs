//! Depthwise 2-D convolution (channel multiplier 1), NHWC, weights `[1,KH,KW,C]` (TFLite
//! layout). Direct loops whose innermost axis is the contiguous channel axis, so they
//! vectorize; no im2col. Parallel across batch chunks; weight-gradient partials are reduced in
//! chunk order.

use rayon::prelude::*;

use crate::simd::{self, vectorized};

use super::{glorot, Activation, Geom, Padding};
use crate::error::{TrainError, TrainResult};
use crate::par::{chunk_size, num_chunks, reduce_partials};
use crate::param::{ChannelAxis, Param};
use crate::tensor::Tensor;

/// Depthwise convolution layer.
#[derive(Debug, Clone)]
pub struct DepthwiseConv2d {
    /// Channels (in = out).
    pub channels: usize,
    /// Kernel (height, width).
    pub kernel: (usize, usize),
    /// Stride (height, width).
    pub stride: (usize, usize),
    /// Padding mode.
    pub padding: Padding,
    /// Fused activation.
    pub activation: Activation,
    /// Kernel `[1,KH,KW,C]`.
    pub weight: Param,
    /// Bias `[C]`.
    pub bias: Option<Param>,
    geom: Geom,
    wpart: Vec<f32>,
    bpart: Vec<f32>,
}

impl DepthwiseConv2d {
    /// A Glorot-initialised depthwise convolution (zero bias).
    pub fn new(
        channels: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: Padding,
        use_bias: bool,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Self {
        let k = kernel.0 * kernel.1;
        let w = glorot(rng, k * channels, k * channels, k);
        DepthwiseConv2d {
            channels,
            kernel,
            stride,
            padding,
            activation: Activation::None,
            weight: Param::new(
                "kernel",
                &[1, kernel.0, kernel.1, channels],
                w,
                ChannelAxis::Inner,
                true,
            ),
            bias: use_bias.then(|| {
                Param::new(
                    "bias",
                    &[channels],
                    vec![0.0; channels],
                    ChannelAxis::Outer,
                    false,
                )
            }),
            geom: Geom::default(),
            wpart: Vec::new(),
            bpart: Vec::new(),
        }
    }

    /// Sets the fused activation.
    pub fn with_activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }

    /// Per-sample output shape.
    pub fn out_shape(&self, input: &[usize]) -> TrainResult<Vec<usize>> {
        let g = Geom::new(input, self.kernel, self.stride, self.padding)?;
        if g.c != self.channels {
            return Err(TrainError::Shape(format!(
                "depthwise expects {} channels, got {}",
                self.channels, g.c
            )));
        }
        Ok(vec![g.oh, g.ow, g.c])
    }

    /// Forward pass.
    pub fn forward(&mut self, x: &Tensor, y: &mut Tensor, _train: bool) {
        let g = Geom::new(&x.shape[1..], self.kernel, self.stride, self.padding)
            .expect("shape validated when the model was built");
        self.geom = g;
        let n = x.batch();
        let c = g.c;
        y.reshape_to(n, &[g.oh, g.ow, c]);
        let cs = chunk_size(n);
        let w = self.weight.w();
        let bias = self.bias.as_ref().map(|b| b.w());
        let act = self.activation;
        let in_len = g.h * g.w * c;
        let out_len = g.oh * g.ow * c;
        y.data
            .par_chunks_mut(cs * out_len)
            .zip(x.data.par_chunks(cs * in_len))
            .for_each(|(yc, xc)| {
                vectorized(
                    #[inline(always)]
                    || {
                        if g.sh == 1 && g.sw == 1 {
                            for (ys, xs) in
                                yc.chunks_exact_mut(out_len).zip(xc.chunks_exact(in_len))
                            {
                                forward_s1(&g, ys, xs, w, bias, act);
                            }
                            return;
                        }
                        for (ys, xs) in yc.chunks_exact_mut(out_len).zip(xc.chunks_exact(in_len)) {
                            for oy in 0..g.oh {
                                let (h0, h1) = g.kh_range(oy);
                                for ox in 0..g.ow {
                                    let (k0, k1) = g.kw_range(ox);
                                    let out = &mut ys[(oy * g.ow + ox) * c..][..c];
                                    match bias {
                                        Some(b) => out.copy_from_slice(b),
                                        None => out.fill(0.0),
                                    }
                                    for ky in h0..h1 {
                                        let iy = oy * g.sh + ky - g.pt;
                                        for kx in k0..k1 {
                                            let ix = ox * g.sw + kx - g.pl;
                                            let xin = &xs[(iy * g.w + ix) * c..][..c];
                                            let wk = &w[(ky * g.kw + kx) * c..][..c];
                                            for ((o, &a), &b) in out.iter_mut().zip(xin).zip(wk) {
                                                *o += a * b;
                                            }
                                        }
                                    }
                                    act.apply(out);
                                }
                            }
                        }
                    },
                )
            });
    }

    /// Backward pass.
    pub fn backward(&mut self, x: &Tensor, y: &Tensor, gy: &mut Tensor, gx: Option<&mut Tensor>) {
        let g = self.geom;
        let n = x.batch();
        let c = g.c;
        let in_len = g.h * g.w * c;
        let out_len = g.oh * g.ow * c;
        let cs = chunk_size(n);
        let nch = num_chunks(n);
        let wlen = g.kh * g.kw * c;
        self.wpart.resize(nch * wlen, 0.0);
        self.bpart.resize(nch * c, 0.0);
        let has_bias = self.bias.is_some();
        let act = self.activation;
        let w = self.weight.w();
        let mut gx_chunks: Vec<Option<&mut [f32]>> = match gx {
            Some(t) => {
                t.reshape_to(n, &[g.h, g.w, c]);
                t.data.chunks_mut(cs * in_len).map(Some).collect()
            }
            None => (0..nch).map(|_| None).collect(),
        };
        gy.data
            .par_chunks_mut(cs * out_len)
            .zip(y.data.par_chunks(cs * out_len))
            .zip(x.data.par_chunks(cs * in_len))
            .zip(self.wpart.par_chunks_mut(wlen))
            .zip(self.bpart.par_chunks_mut(c))
            .zip(gx_chunks.par_iter_mut())
            .for_each(|(((((gyc, yc), xc), wp), bp), gxc)| {
                vectorized(
                    #[inline(always)]
                    || {
                        act.backward(yc, gyc);
                        wp.fill(0.0);
                        bp.fill(0.0);
                        if has_bias {
                            for row in gyc.chunks_exact(c) {
                                simd::add(bp, row);
                            }
                        }
                        let mut gxc = gxc.as_deref_mut();
                        if let Some(gxc) = gxc.as_deref_mut() {
                            gxc.fill(0.0);
                        }
                        if g.sh == 1 && g.sw == 1 {
                            for (s, (gys, xs)) in gyc
                                .chunks_exact(out_len)
                                .zip(xc.chunks_exact(in_len))
                                .enumerate()
                            {
                                let gxs = gxc
                                    .as_deref_mut()
                                    .map(|t| &mut t[s * in_len..(s + 1) * in_len]);
                                backward_s1(&g, gys, xs, w, wp, gxs);
                            }
                            return;
                        }
                        for (s, (gys, xs)) in gyc
                            .chunks_exact(out_len)
                            .zip(xc.chunks_exact(in_len))
                            .enumerate()
                        {
                            for oy in 0..g.oh {
                                let (h0, h1) = g.kh_range(oy);
                                for ox in 0..g.ow {
                                    let (k0, k1) = g.kw_range(ox);
                                    let go = &gys[(oy * g.ow + ox) * c..][..c];
                                    for ky in h0..h1 {
                                        let iy = oy * g.sh + ky - g.pt;
                                        for kx in k0..k1 {
                                            let ix = ox * g.sw + kx - g.pl;
                                            let at = (iy * g.w + ix) * c;
                                            let xin = &xs[at..][..c];
                                            let wo = (ky * g.kw + kx) * c;
                                            let wg = &mut wp[wo..][..c];
                                            for ((d, &a), &b) in wg.iter_mut().zip(xin).zip(go) {
                                                *d += a * b;
                                            }
                                            if let Some(gxc) = gxc.as_deref_mut() {
                                                let gi = &mut gxc[s * in_len + at..][..c];
                                                let wk = &w[wo..][..c];
                                                for ((d, &a), &b) in gi.iter_mut().zip(wk).zip(go) {
                                                    *d += a * b;
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
        reduce_partials(&self.wpart, wlen, nch, &mut self.weight.grad);
        if let Some(b) = &mut self.bias {
            reduce_partials(&self.bpart, c, nch, &mut b.grad);
        }
    }
}

/// Columns `[ox0, ox1)` of an output row that tap column `kx` reads inside the input (stride 1).
#[inline(always)]
fn ox_span(g: &Geom, kx: usize) -> (usize, usize) {
    let ox0 = g.pl.saturating_sub(kx);
    let ox1 = (g.w + g.pl).saturating_sub(kx).min(g.ow);
    (ox0, ox1.max(ox0))
}

/// Stride-1 forward for one sample: each tap sweeps a whole output row, so the inner loop runs
/// over `row_len × C` contiguous values instead of `C`. Per output element the taps are still
/// summed in (ky, kx) order, exactly like the general path.
#[inline(always)]
fn forward_s1(
    g: &Geom,
    ys: &mut [f32],
    xs: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    act: Activation,
) {
    let c = g.c;
    for oy in 0..g.oh {
        let orow = &mut ys[oy * g.ow * c..(oy + 1) * g.ow * c];
        for px in orow.chunks_exact_mut(c) {
            match bias {
                Some(b) => px.copy_from_slice(b),
                None => px.fill(0.0),
            }
        }
        let (h0, h1) = g.kh_range(oy);
        for ky in h0..h1 {
            let iy = oy + ky - g.pt;
            for kx in 0..g.kw {
                let (ox0, ox1) = ox_span(g, kx);
                if ox0 >= ox1 {
                    continue;
                }
                let len = (ox1 - ox0) * c;
                let ix0 = ox0 + kx - g.pl;
                let dst = &mut orow[ox0 * c..ox0 * c + len];
                let src = &xs[(iy * g.w + ix0) * c..][..len];
                let wk = &w[(ky * g.kw + kx) * c..][..c];
                for (d, s) in dst.chunks_exact_mut(c).zip(src.chunks_exact(c)) {
                    simd::mul_acc(d, s, wk);
                }
            }
        }
        act.apply(orow);
    }
}

/// Stride-1 backward for one sample (row sweeps as in [`forward_s1`]); accumulates the weight
/// gradient into `wp` and, when asked, the input gradient into `gxs` (zeroed by the caller).
#[inline(always)]
fn backward_s1(
    g: &Geom,
    gys: &[f32],
    xs: &[f32],
    w: &[f32],
    wp: &mut [f32],
    mut gxs: Option<&mut [f32]>,
) {
    let c = g.c;
    for oy in 0..g.oh {
        let grow = &gys[oy * g.ow * c..(oy + 1) * g.ow * c];
        let (h0, h1) = g.kh_range(oy);
        for ky in h0..h1 {
            let iy = oy + ky - g.pt;
            for kx in 0..g.kw {
                let (ox0, ox1) = ox_span(g, kx);
                if ox0 >= ox1 {
                    continue;
                }
                let len = (ox1 - ox0) * c;
                let ix0 = ox0 + kx - g.pl;
                let go = &grow[ox0 * c..ox0 * c + len];
                let at = (iy * g.w + ix0) * c;
                let src = &xs[at..][..len];
                let wo = (ky * g.kw + kx) * c;
                let wg = &mut wp[wo..wo + c];
                for (gp, xp) in go.chunks_exact(c).zip(src.chunks_exact(c)) {
                    simd::mul_acc(wg, xp, gp);
                }
                if let Some(gx) = gxs.as_deref_mut() {
                    let wk = &w[wo..wo + c];
                    let gi = &mut gx[at..at + len];
                    for (gip, gp) in gi.chunks_exact_mut(c).zip(go.chunks_exact(c)) {
                        simd::mul_acc(gip, wk, gp);
                    }
                }
            }
        }
    }
}
