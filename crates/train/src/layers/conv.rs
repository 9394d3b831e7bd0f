//! 2-D convolution, NHWC, weights `[O,KH,KW,I]` (TFLite layout), optional bias and fused
//! activation. Forward: per batch chunk, im2col (rows = output pixels, columns = `(kh,kw,i)`
//! in the weight's order) then one GEMM `col · Wᵀ`; a 1×1 stride-1 conv skips im2col and
//! multiplies the input directly. Backward: weight-gradient partials `gyᵀ · col` per chunk,
//! reduced in chunk order; input gradient `gy · W` written over the chunk's columns, then
//! col2im. Chunks run in parallel (rayon), the GEMMs are single-threaded.

use rayon::prelude::*;

use crate::simd::{self, vectorized};

use super::{glorot, Activation, Geom, Padding};
use crate::error::{TrainError, TrainResult};
use crate::gemm::{sgemm, MatRef};
use crate::par::{chunk_size, num_chunks, reduce_partials};
use crate::param::{ChannelAxis, Param};
use crate::tensor::Tensor;

/// 2-D convolution layer.
#[derive(Debug, Clone)]
pub struct Conv2d {
    /// Input channels.
    pub in_ch: usize,
    /// Output channels.
    pub filters: usize,
    /// Kernel (height, width).
    pub kernel: (usize, usize),
    /// Stride (height, width).
    pub stride: (usize, usize),
    /// Padding mode.
    pub padding: Padding,
    /// Fused activation.
    pub activation: Activation,
    /// Kernel `[O,KH,KW,I]`.
    pub weight: Param,
    /// Bias `[O]`.
    pub bias: Option<Param>,
    geom: Geom,
    col: Vec<f32>,
    wpart: Vec<f32>,
    bpart: Vec<f32>,
}

impl Conv2d {
    /// A Glorot-initialised convolution (zero bias).
    pub fn new(
        in_ch: usize,
        filters: usize,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: Padding,
        use_bias: bool,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Self {
        let k = kernel.0 * kernel.1;
        let w = glorot(rng, filters * k * in_ch, k * in_ch, k * filters);
        Conv2d {
            in_ch,
            filters,
            kernel,
            stride,
            padding,
            activation: Activation::None,
            weight: Param::new(
                "kernel",
                &[filters, kernel.0, kernel.1, in_ch],
                w,
                ChannelAxis::Outer,
                true,
            ),
            bias: use_bias.then(|| {
                Param::new(
                    "bias",
                    &[filters],
                    vec![0.0; filters],
                    ChannelAxis::Outer,
                    false,
                )
            }),
            geom: Geom::default(),
            col: Vec::new(),
            wpart: Vec::new(),
            bpart: Vec::new(),
        }
    }

    /// Sets the fused activation.
    pub fn with_activation(mut self, a: Activation) -> Self {
        self.activation = a;
        self
    }

    fn is_pointwise(&self) -> bool {
        self.kernel == (1, 1) && self.stride == (1, 1)
    }

    /// Per-sample output shape.
    pub fn out_shape(&self, input: &[usize]) -> TrainResult<Vec<usize>> {
        let g = Geom::new(input, self.kernel, self.stride, self.padding)?;
        if g.c != self.in_ch {
            return Err(TrainError::Shape(format!(
                "conv2d expects {} input channels, got {}",
                self.in_ch, g.c
            )));
        }
        Ok(vec![g.oh, g.ow, self.filters])
    }

    /// Forward pass.
    pub fn forward(&mut self, x: &Tensor, y: &mut Tensor, _train: bool) {
        let g = Geom::new(&x.shape[1..], self.kernel, self.stride, self.padding)
            .expect("shape validated when the model was built");
        self.geom = g;
        let n = x.batch();
        let o = self.filters;
        let kdim = g.kh * g.kw * g.c;
        let rows = g.oh * g.ow;
        y.reshape_to(n, &[g.oh, g.ow, o]);
        let cs = chunk_size(n);
        let w = self.weight.w();
        let bias = self.bias.as_ref().map(|b| b.w());
        let act = self.activation;
        let epilogue = |yc: &mut [f32]| {
            if let Some(b) = bias {
                for row in yc.chunks_exact_mut(o) {
                    simd::add(row, b);
                }
            }
            act.apply(yc);
        };
        let in_len = g.h * g.w * g.c;
        if self.is_pointwise() {
            y.data
                .par_chunks_mut(cs * rows * o)
                .zip(x.data.par_chunks(cs * in_len))
                .for_each(|(yc, xc)| {
                    vectorized(
                        #[inline(always)]
                        || {
                            let m = yc.len() / o;
                            sgemm(
                                m,
                                g.c,
                                o,
                                MatRef::rm(xc, g.c),
                                MatRef::rm_t(w, kdim),
                                0.0,
                                yc,
                            );
                            epilogue(yc);
                        },
                    )
                });
        } else {
            self.col.resize(n * rows * kdim, 0.0);
            y.data
                .par_chunks_mut(cs * rows * o)
                .zip(self.col.par_chunks_mut(cs * rows * kdim))
                .zip(x.data.par_chunks(cs * in_len))
                .for_each(|((yc, colc), xc)| {
                    vectorized(
                        #[inline(always)]
                        || {
                            im2col(&g, xc, colc);
                            let m = yc.len() / o;
                            sgemm(
                                m,
                                kdim,
                                o,
                                MatRef::rm(colc, kdim),
                                MatRef::rm_t(w, kdim),
                                0.0,
                                yc,
                            );
                            epilogue(yc);
                        },
                    )
                });
        }
    }

    /// Backward pass.
    pub fn backward(&mut self, x: &Tensor, y: &Tensor, gy: &mut Tensor, gx: Option<&mut Tensor>) {
        let g = self.geom;
        let n = x.batch();
        let o = self.filters;
        let kdim = g.kh * g.kw * g.c;
        let rows = g.oh * g.ow;
        let in_len = g.h * g.w * g.c;
        let cs = chunk_size(n);
        let nch = num_chunks(n);
        let pointwise = self.is_pointwise();
        self.wpart.resize(nch * o * kdim, 0.0);
        self.bpart.resize(nch * o, 0.0);
        let col_chunk = if pointwise {
            self.col.resize(nch, 0.0);
            1
        } else {
            cs * rows * kdim
        };
        let has_bias = self.bias.is_some();
        let act = self.activation;
        let w = self.weight.w();
        let mut gx_chunks: Vec<Option<&mut [f32]>> = match gx {
            Some(t) => {
                t.reshape_to(n, &[g.h, g.w, g.c]);
                t.data.chunks_mut(cs * in_len).map(Some).collect()
            }
            None => (0..nch).map(|_| None).collect(),
        };
        gy.data
            .par_chunks_mut(cs * rows * o)
            .zip(y.data.par_chunks(cs * rows * o))
            .zip(x.data.par_chunks(cs * in_len))
            .zip(self.col.par_chunks_mut(col_chunk))
            .zip(self.wpart.par_chunks_mut(o * kdim))
            .zip(self.bpart.par_chunks_mut(o))
            .zip(gx_chunks.par_iter_mut())
            .for_each(|((((((gyc, yc), xc), colc), wp), bp), gxc)| {
                vectorized(
                    #[inline(always)]
                    || {
                        act.backward(yc, gyc);
                        let m = gyc.len() / o;
                        if has_bias {
                            bp.fill(0.0);
                            for row in gyc.chunks_exact(o) {
                                simd::add(bp, row);
                            }
                        }
                        let a: &[f32] = if pointwise { xc } else { colc };
                        sgemm(
                            o,
                            m,
                            kdim,
                            MatRef::rm_t(gyc, o),
                            MatRef::rm(a, kdim),
                            0.0,
                            wp,
                        );
                        if let Some(gxc) = gxc {
                            if pointwise {
                                sgemm(
                                    m,
                                    o,
                                    kdim,
                                    MatRef::rm(gyc, o),
                                    MatRef::rm(w, kdim),
                                    0.0,
                                    gxc,
                                );
                            } else {
                                sgemm(
                                    m,
                                    o,
                                    kdim,
                                    MatRef::rm(gyc, o),
                                    MatRef::rm(w, kdim),
                                    0.0,
                                    colc,
                                );
                                col2im(&g, colc, gxc);
                            }
                        }
                    },
                )
            });
        reduce_partials(&self.wpart, o * kdim, nch, &mut self.weight.grad);
        if let Some(b) = &mut self.bias {
            reduce_partials(&self.bpart, o, nch, &mut b.grad);
        }
    }
}

/// Unfolds a chunk of samples into rows of `(kh, kw, c)` patches (zeros where padded).
fn im2col(g: &Geom, x: &[f32], col: &mut [f32]) {
    let kdim = g.kh * g.kw * g.c;
    let in_len = g.h * g.w * g.c;
    let rows = g.oh * g.ow;
    let kwc = g.kw * g.c;
    for (s, xs) in x.chunks_exact(in_len).enumerate() {
        for oy in 0..g.oh {
            let (h0, h1) = g.kh_range(oy);
            for ox in 0..g.ow {
                let (k0, k1) = g.kw_range(ox);
                let row = &mut col[((s * rows) + oy * g.ow + ox) * kdim..][..kdim];
                for ky in 0..g.kh {
                    let dst = &mut row[ky * kwc..(ky + 1) * kwc];
                    if ky < h0 || ky >= h1 || k0 >= k1 {
                        dst.fill(0.0);
                        continue;
                    }
                    let iy = oy * g.sh + ky - g.pt;
                    let ix0 = ox * g.sw + k0 - g.pl;
                    dst[..k0 * g.c].fill(0.0);
                    let len = (k1 - k0) * g.c;
                    let src = &xs[(iy * g.w + ix0) * g.c..][..len];
                    dst[k0 * g.c..k1 * g.c].copy_from_slice(src);
                    dst[k1 * g.c..].fill(0.0);
                }
            }
        }
    }
}

/// Folds patch gradients back onto the input gradient (overwrites `gx`).
fn col2im(g: &Geom, col: &[f32], gx: &mut [f32]) {
    gx.fill(0.0);
    let kdim = g.kh * g.kw * g.c;
    let in_len = g.h * g.w * g.c;
    let rows = g.oh * g.ow;
    let kwc = g.kw * g.c;
    for (s, gs) in gx.chunks_exact_mut(in_len).enumerate() {
        for oy in 0..g.oh {
            let (h0, h1) = g.kh_range(oy);
            for ox in 0..g.ow {
                let (k0, k1) = g.kw_range(ox);
                if k0 >= k1 {
                    continue;
                }
                let row = &col[((s * rows) + oy * g.ow + ox) * kdim..][..kdim];
                for ky in h0..h1 {
                    let iy = oy * g.sh + ky - g.pt;
                    let ix0 = ox * g.sw + k0 - g.pl;
                    let len = (k1 - k0) * g.c;
                    let dst = &mut gs[(iy * g.w + ix0) * g.c..][..len];
                    let src = &row[ky * kwc + k0 * g.c..][..len];
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                }
            }
        }
    }
}
