//! Int8 fully connected layer over a `TFSR1` sparse filter (see [`super`]), bit-exact with
//! [`fully_connected_s8_ref`](crate::fully_connected::fully_connected_s8_ref) on the decoded
//! filter. Needs symmetric weights (`filter_offset == 0`): with a weight zero point, a zero
//! weight still contributes `filter_offset · x` and could not be skipped.

use super::shared::{check_fully_connected, Requant};
use super::{bitmap_bytes, for_each_set, SparseFilter};
use crate::fully_connected::FullyConnectedS8Params;
use crate::KernelResult;

/// Int8 fully connected with a sparse `[O, I]` filter; `p` are the dense kernel's parameters.
pub fn fully_connected_s8_sparse(
    p: &FullyConnectedS8Params<'_>,
    input: &[i8],
    filter: &SparseFilter<'_>,
    bias: Option<&[i32]>,
    output: &mut [i8],
) -> KernelResult {
    check_fully_connected(p, input, bias, output, filter)?;
    let (k, b, data) = (p.input_depth, filter.block, filter.data);
    let bm = bitmap_bytes(k, b);
    let rq = Requant::fully_connected(p, bias);
    for (x, out) in input.chunks(k).zip(output.chunks_mut(p.output_depth)) {
        let mut pos = 0;
        for (o, y) in out.iter_mut().enumerate() {
            let mut acc = 0i32;
            let bitmap = &data[pos..pos + bm];
            let mut v = pos + bm;
            for_each_set(bitmap, |jb| {
                for e in 0..b {
                    if let Some(&xv) = x.get(jb * b + e) {
                        let w = data[v + e] as i8 as i32;
                        acc = acc.wrapping_add(w.wrapping_mul(xv as i32 + p.input_offset));
                    }
                }
                v += b;
            });
            pos = v;
            *y = rq.one(o, acc);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fully_connected::fully_connected_s8_ref;
    use crate::sparse::conv2d_s8_sparse_plan::tests::fc_params;
    use crate::sparse::{encode, encoded_len};

    #[test]
    fn matches_dense_reference() {
        let mut s = 99u32;
        let mut r = || {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12345);
            s >> 8
        };
        for &(batches, i, o, block, per_channel) in &[
            (1, 64, 10, 1, false),
            (3, 37, 5, 1, true),
            (2, 30, 7, 4, true),
        ] {
            let input: Vec<i8> = (0..batches * i).map(|_| r() as i8).collect();
            let filter: Vec<i8> = (0..o * i)
                .map(|_| if r().is_multiple_of(4) { r() as i8 } else { 0 })
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
            let mut enc = vec![0u8; encoded_len(&filter, o, i, block).unwrap()];
            encode(&filter, o, i, block, &mut enc).unwrap();
            let f = SparseFilter {
                rows: o,
                row_len: i,
                block,
                data: &enc,
            };
            let mut got = vec![0i8; want.len()];
            fully_connected_s8_sparse(&p, &input, &f, Some(&bias), &mut got).unwrap();
            assert_eq!(got, want);
        }
    }
}
