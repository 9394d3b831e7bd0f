//! Int8 depthwise convolution over a sparse filter in execution form ([`SparsePlan`]: one row
//! of `KH·KW` taps per output channel, see [`super::depthwise_rows`]), bit-exact with
//! [`depthwise_conv2d_s8_ref`](crate::depthwise::depthwise_conv2d_s8_ref) on the dense filter.
//!
//! Each output value sums only its channel's non-zero taps that fall inside the input. With
//! 9 taps per channel there is little to tile, so this loop is plain; it pays on the host only
//! at high sparsity (the runtime's cost model decides), and exists so that every weight layer
//! kind can be stored and executed sparse.

use super::shared::{check_depthwise, Requant};
use super::SparsePlan;
use crate::depthwise::DepthwiseS8Params;
use crate::KernelResult;

/// Int8 depthwise conv with a sparse filter; `p` are the dense kernel's parameters.
pub fn depthwise_conv2d_s8_sparse_plan(
    p: &DepthwiseS8Params<'_>,
    input: &[i8],
    filter: &SparsePlan<'_>,
    bias: Option<&[i32]>,
    output: &mut [i8],
) -> KernelResult {
    let fs = p.filter_shape;
    check_depthwise(p, input, bias, output, filter)?;
    let (is, os, g, m) = (
        p.input_shape,
        p.output_shape,
        p.geometry,
        p.depth_multiplier,
    );
    let rq = Requant::depthwise(p, bias);
    let mut o = 0;
    for n in 0..os.n {
        for oy in 0..os.h {
            for ox in 0..os.w {
                for oc in 0..os.c {
                    let ic = oc / m;
                    let (cols, vals) = filter.row(oc);
                    let mut acc = 0i32;
                    for (&t, &w) in cols.iter().zip(vals) {
                        let (ky, kx) = (t as usize / fs.w, t as usize % fs.w);
                        let iy = (oy * g.stride_h + ky * g.dilation_h) as isize - g.pad_h as isize;
                        let ix = (ox * g.stride_w + kx * g.dilation_w) as isize - g.pad_w as isize;
                        if iy >= 0 && ix >= 0 && (iy as usize) < is.h && (ix as usize) < is.w {
                            let x =
                                input[((n * is.h + iy as usize) * is.w + ix as usize) * is.c + ic];
                            acc = acc.wrapping_add(w as i32 * (x as i32 + p.input_offset));
                        }
                    }
                    output[o] = rq.one(oc, acc);
                    o += 1;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::depthwise::depthwise_conv2d_s8_ref;
    use crate::sparse::conv2d_s8_sparse_plan::tests::{
        depthwise_params, lcg, plan_of, requant_params,
    };
    use crate::sparse::depthwise_rows;
    use crate::Shape4;

    fn case(h: usize, c: usize, mult_: usize, k: usize, stride: usize, pad: usize, keep: u32) {
        let mut s = (h * 13 + c * 5 + k + keep as usize) as u32;
        let oc = c * mult_;
        let is = Shape4::new(2, h, h, c);
        let fs = Shape4::new(1, k, k, oc);
        let oh = (h + 2 * pad - k) / stride + 1;
        let os = Shape4::new(2, oh, oh, oc);
        let input: Vec<i8> = (0..2 * h * h * c).map(|_| lcg(&mut s) as i8).collect();
        let filter: Vec<i8> = (0..k * k * oc)
            .map(|_| {
                if lcg(&mut s).is_multiple_of(keep) {
                    lcg(&mut s) as i8
                } else {
                    0
                }
            })
            .collect();
        let (bias, mult, shift) = requant_params(oc, &mut s);
        let p = depthwise_params((is, fs, os), stride, pad, mult_, &mult, &shift);
        let mut want = vec![0i8; 2 * oh * oh * oc];
        depthwise_conv2d_s8_ref(&p, &input, &filter, Some(&bias), &mut want).unwrap();
        let mut rows = vec![0i8; filter.len()];
        depthwise_rows(&filter, k * k, oc, &mut rows).unwrap();
        let (rs, cs, vs) = plan_of(&rows, oc, k * k);
        let plan = SparsePlan::new(oc, k * k, &rs, &cs, &vs).unwrap();
        let mut got = vec![0i8; want.len()];
        depthwise_conv2d_s8_sparse_plan(&p, &input, &plan, Some(&bias), &mut got).unwrap();
        assert_eq!(got, want, "h{h} c{c} m{mult_} k{k} s{stride} p{pad}");
    }

    #[test]
    fn matches_dense_reference() {
        case(6, 8, 1, 3, 1, 1, 5);
        case(7, 4, 2, 3, 2, 1, 2);
        case(5, 3, 1, 3, 1, 0, 1);
        case(9, 16, 1, 5, 2, 2, 4);
    }
}
