//! Int8 fully connected layer over a sparse filter in execution form ([`SparsePlan`]),
//! bit-exact with [`fully_connected_s8_ref`](crate::fully_connected::fully_connected_s8_ref)
//! on the dense filter. Each output walks only its row's non-zero weights. Needs symmetric
//! weights (`filter_offset == 0`): with a weight zero point, a zero weight still contributes
//! `filter_offset · x` and could not be skipped.

use super::shared::{check_fully_connected, Requant};
use super::SparsePlan;
use crate::fully_connected::FullyConnectedS8Params;
use crate::KernelResult;

/// Int8 fully connected with a sparse `[O, I]` filter; `p` are the dense kernel's parameters.
pub fn fully_connected_s8_sparse_plan(
    p: &FullyConnectedS8Params<'_>,
    input: &[i8],
    filter: &SparsePlan<'_>,
    bias: Option<&[i32]>,
    output: &mut [i8],
) -> KernelResult {
    check_fully_connected(p, input, bias, output, filter)?;
    let k = p.input_depth;
    let rq = Requant::fully_connected(p, bias);
    for (x, out) in input.chunks(k).zip(output.chunks_mut(p.output_depth)) {
        for (o, y) in out.iter_mut().enumerate() {
            let (cols, vals) = filter.row(o);
            let mut acc = 0i32;
            for (&c, &w) in cols.iter().zip(vals) {
                acc = acc.wrapping_add(w as i32 * (x[c as usize] as i32 + p.input_offset));
            }
            *y = rq.one(o, acc);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fully_connected::fully_connected_s8_ref;
    use crate::sparse::conv2d_s8_sparse_plan::tests::{fc_params, plan_of};

    #[test]
    fn matches_dense_reference() {
        let mut s = 99u32;
        let mut r = || {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            s >> 8
        };
        for &(batches, i, o, keep, per_channel) in &[
            (1, 64, 10, 4, false),
            (3, 37, 5, 4, true),
            (2, 30, 7, 1, true),
            (2, 30, 7, 1000, false),
        ] {
            let input: Vec<i8> = (0..batches * i).map(|_| r() as i8).collect();
            let filter: Vec<i8> = (0..o * i)
                .map(|_| {
                    if r().is_multiple_of(keep) {
                        r() as i8
                    } else {
                        0
                    }
                })
                .collect();
            let bias: Vec<i32> = (0..o).map(|_| (r() % 3001) as i32 - 1500).collect();
            let n = if per_channel { o } else { 1 };
            let mult: Vec<i32> = (0..n)
                .map(|_| 1_200_000_000 + (r() % 800_000_000) as i32)
                .collect();
            let shift: Vec<i32> = (0..n).map(|_| -((r() % 8) as i32) - 2).collect();
            let p = fc_params(batches, i, o, &mult, &shift);
            let mut want = vec![0i8; batches * o];
            fully_connected_s8_ref(&p, &input, &filter, Some(&bias), &mut want).unwrap();
            let (rs, cs, vs) = plan_of(&filter, o, i);
            let f = SparsePlan::new(o, i, &rs, &cs, &vs).unwrap();
            let mut got = vec![0i8; want.len()];
            fully_connected_s8_sparse_plan(&p, &input, &f, Some(&bias), &mut got).unwrap();
            assert_eq!(got, want);
        }
    }
}
