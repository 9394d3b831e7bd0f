//! Int8 convolution over a `TFSR1` sparse filter (see [`super`]), bit-exact with
//! [`conv2d_s8_ref`](crate::conv::conv2d_s8_ref) on the decoded filter.
//!
//! Output pixels are processed in tiles of [`SPARSE_TILE`]: the tile's input patches are
//! gathered once into a transposed scratch (`K` rows of `SPARSE_TILE` lanes holding
//! `x + input_offset`, 0 for padding), then every non-zero weight costs one multiply-add across
//! the tile's lanes, which the compiler vectorizes. The encoding is decoded once per tile, so
//! its cost is amortized over the tile. Ungrouped convolutions only (`I == C`).

use super::shared::{check_conv, gather_patches_i32, Requant};
use super::{bitmap_bytes, for_each_set, SparseFilter};
use crate::conv::cpu::simd_dispatch;
use crate::conv::Conv2dS8Params;
use crate::{KernelError, KernelResult};

/// Output pixels computed per pass over the encoded filter.
pub const SPARSE_TILE: usize = 16;

/// Scratch `i32`s [`conv2d_s8_sparse`] needs for a filter `[O, KH, KW, I]`.
pub const fn conv2d_s8_sparse_scratch(kh: usize, kw: usize, i: usize) -> usize {
    kh * kw * i * SPARSE_TILE
}

/// Int8 convolution with a sparse filter. `p` are the dense kernel's parameters (the filter
/// shape included); `scratch` holds at least [`conv2d_s8_sparse_scratch`] values.
pub fn conv2d_s8_sparse(
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    filter: &SparseFilter<'_>,
    bias: Option<&[i32]>,
    output: &mut [i8],
    scratch: &mut [i32],
) -> KernelResult {
    let fs = p.filter_shape;
    check_conv(p, input, bias, output, filter)?;
    let need = conv2d_s8_sparse_scratch(fs.h, fs.w, fs.c);
    let scratch = scratch.get_mut(..need).ok_or(KernelError::Scratch)?;
    conv_into(p, input, filter, bias, output, scratch);
    Ok(())
}

simd_dispatch! {
    fn conv_into(
        p: &Conv2dS8Params<'_>,
        input: &[i8],
        filter: &SparseFilter<'_>,
        bias: Option<&[i32]>,
        output: &mut [i8],
        xt: &mut [i32],
    ) => conv_body
}

#[inline(always)]
fn conv_body(
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    filter: &SparseFilter<'_>,
    bias: Option<&[i32]>,
    output: &mut [i8],
    xt: &mut [i32],
) {
    const T: usize = SPARSE_TILE;
    let (is, fs, os) = (p.input_shape, p.filter_shape, p.output_shape);
    let k = fs.h * fs.w * fs.c;
    let rq = Requant::conv(p, bias);
    let (b, data) = (filter.block, filter.data);
    let bm = bitmap_bytes(k, b);
    let npix = os.h * os.w;
    for n in 0..is.n {
        let mut p0 = 0;
        while p0 < npix {
            let t = T.min(npix - p0);
            gather_patches_i32(p, input, n, p0, t, xt);
            let mut pos = 0;
            for o in 0..fs.n {
                let mut acc = [0i32; T];
                let bitmap = &data[pos..pos + bm];
                let mut v = pos + bm;
                for_each_set(bitmap, |jb| {
                    for e in 0..b {
                        let kk = jb * b + e;
                        if kk < k {
                            let w = data[v + e] as i8 as i32;
                            let col = &xt[kk * T..kk * T + T];
                            for (a, &x) in acc.iter_mut().zip(col) {
                                *a = a.wrapping_add(w.wrapping_mul(x));
                            }
                        }
                    }
                    v += b;
                });
                pos = v;
                rq.lanes(o, &acc[..t], output, (n * npix + p0) * fs.n + o, fs.n);
            }
            p0 += t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::{conv2d_s8_ref, ConvGeometry};
    use crate::sparse::conv2d_s8_sparse_plan::tests::{conv_params, lcg, requant_params};
    use crate::sparse::{encode, encoded_len};
    use crate::Shape4;

    #[allow(clippy::too_many_arguments)]
    fn case(
        h: usize,
        w: usize,
        c: usize,
        o: usize,
        kh: usize,
        stride: usize,
        pad: usize,
        block: usize,
    ) {
        let mut s = (h * 31 + c * 7 + o + kh * 3 + block) as u32;
        let is = Shape4::new(2, h, w, c);
        let fs = Shape4::new(o, kh, kh, c);
        let oh = (h + 2 * pad - kh) / stride + 1;
        let ow = (w + 2 * pad - kh) / stride + 1;
        let os = Shape4::new(2, oh, ow, o);
        let input: Vec<i8> = (0..is.n * h * w * c).map(|_| lcg(&mut s) as i8).collect();
        let k = kh * kh * c;
        let mut filter: Vec<i8> = (0..o * k)
            .map(|_| {
                if lcg(&mut s).is_multiple_of(5) {
                    lcg(&mut s) as i8
                } else {
                    0
                }
            })
            .collect();
        if block == 4 {
            // Zero whole 1×4 blocks so the block encoding is exercised with partial blocks.
            for row in filter.chunks_mut(k) {
                for blk in row.chunks_mut(4) {
                    if lcg(&mut s).is_multiple_of(3) {
                        blk.fill(0);
                    }
                }
            }
        }
        let (bias, mult, shift) = requant_params(o, &mut s);
        let p = conv_params((is, fs, os), stride, pad, 17, &mult, &shift);
        let mut want = vec![0i8; os.n * oh * ow * o];
        conv2d_s8_ref(&p, &input, &filter, Some(&bias), &mut want).unwrap();
        let mut enc = vec![0u8; encoded_len(&filter, o, k, block).unwrap()];
        encode(&filter, o, k, block, &mut enc).unwrap();
        let sf = SparseFilter {
            rows: o,
            row_len: k,
            block,
            data: &enc,
        };
        let mut got = vec![0i8; want.len()];
        let mut scratch = vec![0i32; conv2d_s8_sparse_scratch(kh, kh, c)];
        conv2d_s8_sparse(&p, &input, &sf, Some(&bias), &mut got, &mut scratch).unwrap();
        assert_eq!(got, want, "h{h} c{c} o{o} k{kh} s{stride} p{pad} b{block}");
    }

    #[test]
    fn matches_dense_reference() {
        case(5, 5, 8, 6, 1, 1, 0, 1);
        case(7, 6, 3, 5, 3, 1, 1, 1);
        case(9, 9, 4, 7, 3, 2, 1, 1);
        case(6, 6, 10, 9, 3, 1, 1, 4);
        case(4, 4, 16, 32, 1, 1, 0, 4);
        case(3, 3, 2, 3, 3, 1, 0, 1);
    }

    #[test]
    fn rejects_mismatched_filter_and_small_scratch() {
        let mult = [1 << 30];
        let shift = [-1];
        let p = Conv2dS8Params {
            input_shape: Shape4::new(1, 2, 2, 4),
            filter_shape: Shape4::new(1, 1, 1, 4),
            output_shape: Shape4::new(1, 2, 2, 1),
            geometry: ConvGeometry::default(),
            input_offset: 0,
            output_offset: 0,
            act_min: -128,
            act_max: 127,
            output_multiplier: &mult,
            output_shift: &shift,
        };
        let enc = [0b0101u8, 3, 4];
        let f = SparseFilter {
            rows: 1,
            row_len: 4,
            block: 1,
            data: &enc,
        };
        let mut out = [0i8; 4];
        let mut small = [0i32; 4];
        assert_eq!(
            conv2d_s8_sparse(&p, &[1; 16], &f, None, &mut out, &mut small),
            Err(KernelError::Scratch)
        );
        let bad = SparseFilter {
            rows: 1,
            row_len: 5,
            block: 1,
            data: &enc,
        };
        let mut scratch = [0i32; 64];
        assert_eq!(
            conv2d_s8_sparse(&p, &[1; 16], &bad, None, &mut out, &mut scratch),
            Err(KernelError::BadParams)
        );
        conv2d_s8_sparse(&p, &[1; 16], &f, None, &mut out, &mut scratch).unwrap();
        let mut want = [0i8; 4];
        conv2d_s8_ref(&p, &[1; 16], &[3, 0, 4, 0], None, &mut want).unwrap();
        assert_eq!(out, want);
    }
}
