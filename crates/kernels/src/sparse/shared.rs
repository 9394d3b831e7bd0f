//! Entry checks, requantization epilogues and the `i32` patch gather that the three sparse
//! kernel families (`TFSR1` bodies, [`super::SparsePlan`], `TFSR2` blobs) have in common, so
//! that a layer is accepted, and its accumulators turned into int8, the same way whichever
//! form its filter is stored in.
//!
//! Invariants: nothing here allocates, because the `TFSR2` kernels run in the generated
//! no_std crate; everything is small, inlined, and lies outside the multiply-add loops, whose data
//! layouts differ per family and stay in each kernel. The vectorized per-block requantization
//! of [`super::conv2d_s8_sparse_plan`] is not routed through [`Requant`]: it is the dense
//! kernels' SIMD epilogue.

use super::format::Tfsr2;
use super::{SparseFilter, SparsePlan, SPARSE_TILE};
use crate::conv::quant::requantize_s8;
use crate::conv::Conv2dS8Params;
use crate::depthwise::DepthwiseS8Params;
use crate::fully_connected::FullyConnectedS8Params;
use crate::{KernelError, KernelResult};

/// The row view that every stored filter form gives, so one entry check serves them all.
pub(super) trait SparseRows {
    /// `(rows, row_len)`.
    fn dims(&self) -> (usize, usize);
    /// Checks the stored bytes against the dims, so a malformed blob is an error rather than
    /// an out-of-bounds panic in the kernel.
    fn check_stored(&self) -> KernelResult;
}

impl SparseRows for SparseFilter<'_> {
    fn dims(&self) -> (usize, usize) {
        (self.rows, self.row_len)
    }
    fn check_stored(&self) -> KernelResult {
        self.check()
    }
}

impl SparseRows for Tfsr2<'_> {
    fn dims(&self) -> (usize, usize) {
        (self.rows, self.row_len)
    }
    fn check_stored(&self) -> KernelResult {
        self.check()
    }
}

impl SparseRows for SparsePlan<'_> {
    fn dims(&self) -> (usize, usize) {
        (self.rows(), self.row_len())
    }
    // `SparsePlan::new` already checked every row's columns against `row_len`.
    fn check_stored(&self) -> KernelResult {
        Ok(())
    }
}

/// The part every entry check shares: the layer rule the kernel depends on (`layer_ok`),
/// the filter's rows against the layer's, then the stored bytes.
#[inline]
fn check_rows(
    filter: &impl SparseRows,
    rows_row_len: (usize, usize),
    layer_ok: bool,
) -> KernelResult {
    if !layer_ok || filter.dims() != rows_row_len {
        return Err(KernelError::BadParams);
    }
    filter.check_stored()
}

/// Checks an ungrouped conv layer and its sparse filter against the buffers; returns the
/// row length `K = KH·KW·I`.
#[inline]
pub(super) fn check_conv(
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    bias: Option<&[i32]>,
    output: &[i8],
    filter: &impl SparseRows,
) -> Result<usize, KernelError> {
    let fs = p.filter_shape;
    let k = fs.h * fs.w * fs.c;
    p.check(input.len(), fs.n * k, bias.map(<[i32]>::len), output.len())?;
    // A row spans every input channel, which only holds for ungrouped convolutions.
    check_rows(filter, (fs.n, k), p.input_shape.c == fs.c)?;
    Ok(k)
}

/// Checks a fully connected layer and its sparse filter against the buffers.
#[inline]
pub(super) fn check_fully_connected(
    p: &FullyConnectedS8Params<'_>,
    input: &[i8],
    bias: Option<&[i32]>,
    output: &[i8],
    filter: &impl SparseRows,
) -> Result<(), KernelError> {
    p.check(
        input.len(),
        p.output_depth * p.input_depth,
        bias.map(<[i32]>::len),
        output.len(),
    )?;
    // With a weight zero point a zero weight still adds `filter_offset · x`, so it could not
    // be skipped.
    check_rows(
        filter,
        (p.output_depth, p.input_depth),
        p.filter_offset == 0,
    )
}

/// Checks a depthwise layer and its sparse filter (one row of taps per output channel)
/// against the buffers; returns the row length `KH·KW`.
#[inline]
pub(super) fn check_depthwise(
    p: &DepthwiseS8Params<'_>,
    input: &[i8],
    bias: Option<&[i32]>,
    output: &[i8],
    filter: &impl SparseRows,
) -> Result<usize, KernelError> {
    let fs = p.filter_shape;
    let taps = fs.h * fs.w;
    p.check(
        input.len(),
        taps * fs.c,
        bias.map(<[i32]>::len),
        output.len(),
    )?;
    // The kernels divide by the multiplier to find a channel's input.
    check_rows(filter, (fs.c, taps), p.depth_multiplier != 0)?;
    Ok(taps)
}

/// The int8 epilogue of a layer: bias, then the dense kernels' requantization, for one
/// output channel's accumulators.
#[derive(Clone, Copy)]
pub(super) struct Requant<'a> {
    bias: Option<&'a [i32]>,
    multiplier: &'a [i32],
    shift: &'a [i32],
    output_offset: i32,
    act_min: i32,
    act_max: i32,
    /// False when one multiplier/shift serves every channel (fully connected allows it).
    per_channel: bool,
}

impl<'a> Requant<'a> {
    #[inline]
    pub(super) fn conv(p: &Conv2dS8Params<'a>, bias: Option<&'a [i32]>) -> Self {
        Requant {
            bias,
            multiplier: p.output_multiplier,
            shift: p.output_shift,
            output_offset: p.output_offset,
            act_min: p.act_min,
            act_max: p.act_max,
            per_channel: true,
        }
    }

    #[inline]
    pub(super) fn fully_connected(p: &FullyConnectedS8Params<'a>, bias: Option<&'a [i32]>) -> Self {
        Requant {
            bias,
            multiplier: p.output_multiplier,
            shift: p.output_shift,
            output_offset: p.output_offset,
            act_min: p.act_min,
            act_max: p.act_max,
            per_channel: p.output_multiplier.len() > 1,
        }
    }

    #[inline]
    pub(super) fn depthwise(p: &DepthwiseS8Params<'a>, bias: Option<&'a [i32]>) -> Self {
        Requant {
            bias,
            multiplier: p.output_multiplier,
            shift: p.output_shift,
            output_offset: p.output_offset,
            act_min: p.act_min,
            act_max: p.act_max,
            per_channel: true,
        }
    }

    /// Output of channel `o` for accumulator `acc`.
    #[inline(always)]
    pub(super) fn one(&self, o: usize, acc: i32) -> i8 {
        let c = if self.per_channel { o } else { 0 };
        requantize_s8(
            acc.wrapping_add(self.bias.map_or(0, |bs| bs[o])),
            self.multiplier[c],
            self.shift[c],
            self.output_offset,
            self.act_min,
            self.act_max,
        )
    }

    /// Writes channel `o` of consecutive pixels, `out[at + j·step]` for `acc[j]`.
    #[inline(always)]
    pub(super) fn lanes(&self, o: usize, acc: &[i32], out: &mut [i8], at: usize, step: usize) {
        let bo = self.bias.map_or(0, |bs| bs[o]);
        let c = if self.per_channel { o } else { 0 };
        let (m, s) = (self.multiplier[c], self.shift[c]);
        for (j, &a) in acc.iter().enumerate() {
            out[at + j * step] = requantize_s8(
                a.wrapping_add(bo),
                m,
                s,
                self.output_offset,
                self.act_min,
                self.act_max,
            );
        }
    }
}

/// Gathers the transposed input patches of pixels `p0..p0 + t` of batch `n` into `xt`: `K`
/// rows of [`SPARSE_TILE`] lanes holding `x + input_offset`, 0 for padding and for the lanes
/// past `t`, so a tile's multiply-adds can run over whole rows with no bounds logic.
#[inline(always)]
pub(super) fn gather_patches_i32(
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    n: usize,
    p0: usize,
    t: usize,
    xt: &mut [i32],
) {
    const T: usize = SPARSE_TILE;
    let (is, fs, os, g) = (p.input_shape, p.filter_shape, p.output_shape, p.geometry);
    for j in 0..T {
        let pix = p0 + j;
        let (oy, ox) = (pix / os.w, pix % os.w);
        for ky in 0..fs.h {
            for kx in 0..fs.w {
                let iy = (oy * g.stride_h + ky * g.dilation_h) as isize - g.pad_h as isize;
                let ix = (ox * g.stride_w + kx * g.dilation_w) as isize - g.pad_w as isize;
                let base = (ky * fs.w + kx) * fs.c;
                let inside =
                    j < t && iy >= 0 && ix >= 0 && (iy as usize) < is.h && (ix as usize) < is.w;
                if inside {
                    let src = ((n * is.h + iy as usize) * is.w + ix as usize) * is.c;
                    for c in 0..fs.c {
                        xt[(base + c) * T + j] = input[src + c] as i32 + p.input_offset;
                    }
                } else {
                    for c in 0..fs.c {
                        xt[(base + c) * T + j] = 0;
                    }
                }
            }
        }
    }
}
