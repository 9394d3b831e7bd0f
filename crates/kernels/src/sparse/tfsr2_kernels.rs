//! Conv, depthwise and fully-connected int8 kernels that execute a `TFSR2` blob (see
//! [`super::format`]) in place, with no allocation: the form generated no_std code runs from
//! flash. Both body layouts are read through [`Tfsr2::for_each_block`], which visits stored
//! blocks in row order; a row's output is requantized when the walk moves past it, so one
//! accumulator (per tile lane) suffices and the gap stream is read sequentially, never
//! indexed. Outputs equal the dense reference kernels' byte for byte (same int32 products,
//! wrapping sums do not depend on order).
//!
//! Neighbours: [`super::conv2d_s8_sparse`] is the `TFSR1`-body form of the conv kernel (same
//! tiling); `tinyforge-deploy` emits calls to these kernels in its Rust crate output.

use super::format::Tfsr2;
use super::shared::{
    check_conv, check_depthwise, check_fully_connected, gather_patches_i32, Requant,
};
use super::SPARSE_TILE;
use crate::conv::Conv2dS8Params;
use crate::depthwise::DepthwiseS8Params;
use crate::fully_connected::FullyConnectedS8Params;
use crate::{KernelError, KernelResult};

/// Calls `flush(row, acc_of_row)` for rows `0..rows` in order, where a row's accumulator is
/// built by `mac(acc, row, block_col, values)` over its stored blocks.
fn rows_of<A: Copy>(
    blob: &Tfsr2<'_>,
    zero: A,
    mut mac: impl FnMut(&mut A, usize, usize, &[u8]),
    mut flush: impl FnMut(usize, &A),
) -> KernelResult {
    let mut cur = 0usize;
    let mut acc = zero;
    blob.for_each_block(|row, col, vals| {
        while cur < row {
            flush(cur, &acc);
            acc = zero;
            cur += 1;
        }
        mac(&mut acc, row, col, vals);
    })?;
    while cur < blob.rows {
        flush(cur, &acc);
        acc = zero;
        cur += 1;
    }
    Ok(())
}

/// Int8 convolution with a `TFSR2` filter (rows = output channels, ungrouped only); `scratch`
/// holds at least [`super::conv2d_s8_sparse_scratch`] values.
pub fn conv2d_s8_tfsr2(
    p: &Conv2dS8Params<'_>,
    input: &[i8],
    filter: &Tfsr2<'_>,
    bias: Option<&[i32]>,
    output: &mut [i8],
    scratch: &mut [i32],
) -> KernelResult {
    const T: usize = SPARSE_TILE;
    let (is, fs, os) = (p.input_shape, p.filter_shape, p.output_shape);
    let k = check_conv(p, input, bias, output, filter)?;
    let b = filter.encoding()?.block;
    let xt = scratch
        .get_mut(..super::conv2d_s8_sparse_scratch(fs.h, fs.w, fs.c))
        .ok_or(KernelError::Scratch)?;
    let rq = Requant::conv(p, bias);
    let npix = os.h * os.w;
    for n in 0..is.n {
        let mut p0 = 0;
        while p0 < npix {
            let t = T.min(npix - p0);
            gather_patches_i32(p, input, n, p0, t, xt);
            let xt = &*xt;
            let out = &mut *output;
            rows_of(
                filter,
                [0i32; T],
                |acc, _, jb, vals| {
                    for (e, &w) in vals.iter().enumerate() {
                        let kk = jb * b + e;
                        if kk < k {
                            let w = w as i8 as i32;
                            for (a, &x) in acc.iter_mut().zip(&xt[kk * T..kk * T + T]) {
                                *a = a.wrapping_add(w.wrapping_mul(x));
                            }
                        }
                    }
                },
                |o, acc| rq.lanes(o, &acc[..t], out, (n * npix + p0) * fs.n + o, fs.n),
            )?;
            p0 += t;
        }
    }
    Ok(())
}

/// Int8 fully connected with a `TFSR2` `[O, I]` filter (symmetric weights only: a weight zero
/// point would make zero weights contribute).
pub fn fully_connected_s8_tfsr2(
    p: &FullyConnectedS8Params<'_>,
    input: &[i8],
    filter: &Tfsr2<'_>,
    bias: Option<&[i32]>,
    output: &mut [i8],
) -> KernelResult {
    check_fully_connected(p, input, bias, output, filter)?;
    let (k, b) = (p.input_depth, filter.encoding()?.block);
    let rq = Requant::fully_connected(p, bias);
    for (x, out) in input.chunks(k).zip(output.chunks_mut(p.output_depth)) {
        rows_of(
            filter,
            0i32,
            |acc, _, jb, vals| {
                for (e, &w) in vals.iter().enumerate() {
                    if let Some(&xv) = x.get(jb * b + e) {
                        let w = w as i8 as i32;
                        *acc = acc.wrapping_add(w.wrapping_mul(xv as i32 + p.input_offset));
                    }
                }
            },
            |o, &acc| out[o] = rq.one(o, acc),
        )?;
    }
    Ok(())
}

/// Int8 depthwise convolution with a `TFSR2` filter whose rows are the output channels' taps
/// ([`super::depthwise_rows`]). One walk of the blob per output pixel; taps outside the input
/// are skipped, as in the dense kernel.
pub fn depthwise_conv2d_s8_tfsr2(
    p: &DepthwiseS8Params<'_>,
    input: &[i8],
    filter: &Tfsr2<'_>,
    bias: Option<&[i32]>,
    output: &mut [i8],
) -> KernelResult {
    let fs = p.filter_shape;
    let taps = check_depthwise(p, input, bias, output, filter)?;
    let b = filter.encoding()?.block;
    let (is, os, g, m) = (
        p.input_shape,
        p.output_shape,
        p.geometry,
        p.depth_multiplier,
    );
    let rq = Requant::depthwise(p, bias);
    for n in 0..os.n {
        for oy in 0..os.h {
            for ox in 0..os.w {
                let at = ((n * os.h + oy) * os.w + ox) * os.c;
                let out = &mut output[at..at + os.c];
                rows_of(
                    filter,
                    0i32,
                    |acc, oc, jb, vals| {
                        let ic = oc / m;
                        for (e, &w) in vals.iter().enumerate() {
                            let t = jb * b + e;
                            if t >= taps || w == 0 {
                                continue;
                            }
                            let (ky, kx) = (t / fs.w, t % fs.w);
                            let iy =
                                (oy * g.stride_h + ky * g.dilation_h) as isize - g.pad_h as isize;
                            let ix =
                                (ox * g.stride_w + kx * g.dilation_w) as isize - g.pad_w as isize;
                            if iy >= 0 && ix >= 0 && (iy as usize) < is.h && (ix as usize) < is.w {
                                let x = input
                                    [((n * is.h + iy as usize) * is.w + ix as usize) * is.c + ic];
                                *acc = acc
                                    .wrapping_add((w as i8 as i32) * (x as i32 + p.input_offset));
                            }
                        }
                    },
                    |oc, &acc| out[oc] = rq.one(oc, acc),
                )?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conv::conv2d_s8_ref;
    use crate::depthwise::depthwise_conv2d_s8_ref;
    use crate::fully_connected::fully_connected_s8_ref;
    use crate::sparse::conv2d_s8_sparse_plan::tests::{
        conv_params, depthwise_params, fc_params, lcg, requant_params,
    };
    use crate::sparse::{depthwise_rows, encode_tfsr2, tfsr2_len, Encoding, Layout};
    use crate::Shape4;

    fn sparse(n: usize, keep: u32, s: &mut u32) -> Vec<i8> {
        (0..n)
            .map(|_| {
                if lcg(s).is_multiple_of(keep) {
                    (lcg(s) as i8).max(1)
                } else {
                    0
                }
            })
            .collect()
    }

    fn blob(w: &[i8], rows: usize, k: usize, e: Encoding) -> Vec<u8> {
        let mut out = vec![0u8; tfsr2_len(w, rows, k, e).unwrap()];
        encode_tfsr2(w, rows, k, e, &mut out).unwrap();
        out
    }

    fn encodings() -> [Encoding; 4] {
        [
            Encoding {
                layout: Layout::Bitmap,
                block: 1,
            },
            Encoding {
                layout: Layout::Bitmap,
                block: 4,
            },
            Encoding {
                layout: Layout::Gaps,
                block: 1,
            },
            Encoding {
                layout: Layout::Gaps,
                block: 4,
            },
        ]
    }

    #[test]
    fn conv_matches_dense_reference() {
        for &(h, c, o, kh, stride, pad, keep) in &[
            (5, 8, 6, 1, 1, 0, 5),
            (7, 3, 5, 3, 1, 1, 3),
            (9, 4, 7, 3, 2, 1, 40),
            (4, 16, 9, 1, 1, 0, 12),
        ] {
            let mut s = (h * 31 + c * 7 + o + keep as usize) as u32;
            let is = Shape4::new(2, h, h, c);
            let fs = Shape4::new(o, kh, kh, c);
            let oh = (h + 2 * pad - kh) / stride + 1;
            let os = Shape4::new(2, oh, oh, o);
            let input: Vec<i8> = (0..2 * h * h * c).map(|_| lcg(&mut s) as i8).collect();
            let k = kh * kh * c;
            let filter = sparse(o * k, keep, &mut s);
            let (bias, mult, shift) = requant_params(o, &mut s);
            let p = conv_params((is, fs, os), stride, pad, 17, &mult, &shift);
            let mut want = vec![0i8; os.n * oh * oh * o];
            conv2d_s8_ref(&p, &input, &filter, Some(&bias), &mut want).unwrap();
            for e in encodings() {
                let data = blob(&filter, o, k, e);
                let f = Tfsr2 {
                    rows: o,
                    row_len: k,
                    data: &data,
                };
                let mut got = vec![0i8; want.len()];
                let mut scratch = vec![0i32; super::super::conv2d_s8_sparse_scratch(kh, kh, c)];
                conv2d_s8_tfsr2(&p, &input, &f, Some(&bias), &mut got, &mut scratch).unwrap();
                assert_eq!(got, want, "h{h} c{c} o{o} k{kh} {e:?}");
                assert_eq!(
                    conv2d_s8_tfsr2(&p, &input, &f, Some(&bias), &mut got, &mut scratch[..1]),
                    Err(KernelError::Scratch)
                );
            }
        }
    }

    #[test]
    fn fully_connected_matches_dense_reference() {
        let mut s = 5u32;
        for &(batches, i, o, keep) in &[(1, 64, 10, 4), (3, 37, 5, 20), (2, 30, 7, 1)] {
            let input: Vec<i8> = (0..batches * i).map(|_| lcg(&mut s) as i8).collect();
            let filter = sparse(o * i, keep, &mut s);
            let bias: Vec<i32> = (0..o).map(|_| (lcg(&mut s) % 3001) as i32 - 1500).collect();
            let mult: Vec<i32> = (0..o)
                .map(|_| 1_200_000_000 + (lcg(&mut s) % 800_000_000) as i32)
                .collect();
            let shift: Vec<i32> = (0..o).map(|_| -((lcg(&mut s) % 8) as i32) - 2).collect();
            let p = fc_params(batches, i, o, &mult, &shift);
            let mut want = vec![0i8; batches * o];
            fully_connected_s8_ref(&p, &input, &filter, Some(&bias), &mut want).unwrap();
            for e in encodings() {
                let data = blob(&filter, o, i, e);
                let f = Tfsr2 {
                    rows: o,
                    row_len: i,
                    data: &data,
                };
                let mut got = vec![0i8; want.len()];
                fully_connected_s8_tfsr2(&p, &input, &f, Some(&bias), &mut got).unwrap();
                assert_eq!(got, want, "{i}x{o} {e:?}");
            }
        }
    }

    #[test]
    fn depthwise_matches_dense_reference() {
        for &(h, c, dm, k, stride, pad, keep) in &[
            (6, 8, 1, 3, 1, 1, 5),
            (7, 4, 2, 3, 2, 1, 2),
            (9, 16, 1, 5, 2, 2, 30),
        ] {
            let mut s = (h * 13 + c * 5 + k + keep as usize) as u32;
            let oc = c * dm;
            let is = Shape4::new(2, h, h, c);
            let fs = Shape4::new(1, k, k, oc);
            let oh = (h + 2 * pad - k) / stride + 1;
            let os = Shape4::new(2, oh, oh, oc);
            let input: Vec<i8> = (0..2 * h * h * c).map(|_| lcg(&mut s) as i8).collect();
            let filter = sparse(k * k * oc, keep, &mut s);
            let (bias, mult, shift) = requant_params(oc, &mut s);
            let p = depthwise_params((is, fs, os), stride, pad, dm, &mult, &shift);
            let mut want = vec![0i8; 2 * oh * oh * oc];
            depthwise_conv2d_s8_ref(&p, &input, &filter, Some(&bias), &mut want).unwrap();
            let mut rows = vec![0i8; filter.len()];
            depthwise_rows(&filter, k * k, oc, &mut rows).unwrap();
            for e in encodings() {
                let data = blob(&rows, oc, k * k, e);
                let f = Tfsr2 {
                    rows: oc,
                    row_len: k * k,
                    data: &data,
                };
                let mut got = vec![0i8; want.len()];
                depthwise_conv2d_s8_tfsr2(&p, &input, &f, Some(&bias), &mut got).unwrap();
                assert_eq!(got, want, "h{h} c{c} m{dm} k{k} {e:?}");
            }
        }
    }
}
