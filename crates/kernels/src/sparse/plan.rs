//! The host's execution form of a sparse filter: per row, the non-zero weights' columns and
//! values as flat lists (compressed sparse rows), decoded once from a `TFSR2` blob or a dense
//! filter by the caller (the runtime, which has alloc) into buffers sized by [`plan_len`].
//!
//! Each row's list has an even length (a last odd entry is followed by a zero weight at the
//! same column) so the AVX2 kernels can take weights two at a time with `vpmaddwd`; the zero
//! pads change no sum. [`SparsePlan::new`] validates the lists once, so kernels index them
//! without further checks: every column is `< row_len`, offsets increase and end at the list
//! lengths.

use super::Tfsr2;
use crate::{KernelError, KernelResult};

/// A validated sparse filter in execution form (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct SparsePlan<'a> {
    rows: usize,
    row_len: usize,
    row_start: &'a [u32],
    cols: &'a [u32],
    vals: &'a [i16],
}

impl<'a> SparsePlan<'a> {
    /// Checks the lists: `row_start` has `rows + 1` non-decreasing offsets from 0 to
    /// `cols.len() == vals.len()`, every row has an even count, every column `< row_len`, and
    /// every value is an int8.
    pub fn new(
        rows: usize,
        row_len: usize,
        row_start: &'a [u32],
        cols: &'a [u32],
        vals: &'a [i16],
    ) -> Result<Self, KernelError> {
        if rows == 0 || row_len == 0 || row_start.len() != rows + 1 || cols.len() != vals.len() {
            return Err(KernelError::BadParams);
        }
        if row_start[0] != 0 || row_start[rows] as usize != cols.len() {
            return Err(KernelError::BadParams);
        }
        for w in row_start.windows(2) {
            if w[1] < w[0] || (w[1] - w[0]) % 2 != 0 {
                return Err(KernelError::BadParams);
            }
        }
        if cols.iter().any(|&c| c as usize >= row_len)
            || vals.iter().any(|&v| !(-128..=127).contains(&v))
        {
            return Err(KernelError::BadParams);
        }
        Ok(SparsePlan {
            rows,
            row_len,
            row_start,
            cols,
            vals,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }
    pub fn row_len(&self) -> usize {
        self.row_len
    }
    /// Stored entries, zero pads included.
    pub fn entries(&self) -> usize {
        self.cols.len()
    }

    /// Columns and values of row `r` (`r < rows`).
    #[inline(always)]
    pub(crate) fn row(&self, r: usize) -> (&'a [u32], &'a [i16]) {
        let (a, b) = (self.row_start[r] as usize, self.row_start[r + 1] as usize);
        (&self.cols[a..b], &self.vals[a..b])
    }
}

/// Entries (zero pads included) of the plan of `dense` (`rows × row_len`).
pub fn plan_len(dense: &[i8], rows: usize, row_len: usize) -> Result<usize, KernelError> {
    if rows == 0 || row_len == 0 || rows.checked_mul(row_len) != Some(dense.len()) {
        return Err(KernelError::BadParams);
    }
    Ok(dense
        .chunks(row_len)
        .map(|r| r.iter().filter(|&&v| v != 0).count().next_multiple_of(2))
        .sum())
}

/// Fills a plan's lists from dense weights: `row_start` has `rows + 1` entries, `cols` and
/// `vals` [`plan_len`] entries each.
pub fn build_plan(
    dense: &[i8],
    rows: usize,
    row_len: usize,
    row_start: &mut [u32],
    cols: &mut [u32],
    vals: &mut [i16],
) -> KernelResult {
    let n = plan_len(dense, rows, row_len)?;
    if row_start.len() != rows + 1 || cols.len() != n || vals.len() != n {
        return Err(KernelError::BufferSize);
    }
    let mut e = 0usize;
    row_start[0] = 0;
    for (r, row) in dense.chunks(row_len).enumerate() {
        let mut last = 0u32;
        for (c, &w) in row.iter().enumerate() {
            if w != 0 {
                cols[e] = c as u32;
                vals[e] = w as i16;
                last = c as u32;
                e += 1;
            }
        }
        if (e - row_start[r] as usize) % 2 == 1 {
            cols[e] = last;
            vals[e] = 0;
            e += 1;
        }
        row_start[r + 1] = u32::try_from(e).map_err(|_| KernelError::BadParams)?;
    }
    Ok(())
}

/// [`plan_len`] of a `TFSR2` blob (validates it).
pub fn plan_len_tfsr2(blob: &Tfsr2<'_>) -> Result<usize, KernelError> {
    let mut per_row = 0usize;
    let (mut row, mut total) = (0usize, 0usize);
    blob.for_each_nonzero(|r, _, _| {
        if r != row {
            total += per_row.next_multiple_of(2);
            per_row = 0;
            row = r;
        }
        per_row += 1;
    })?;
    Ok(total + per_row.next_multiple_of(2))
}

/// Fills a plan's lists straight from a `TFSR2` blob (the deployed form), sizes as
/// [`plan_len_tfsr2`].
pub fn build_plan_tfsr2(
    blob: &Tfsr2<'_>,
    row_start: &mut [u32],
    cols: &mut [u32],
    vals: &mut [i16],
) -> KernelResult {
    let n = plan_len_tfsr2(blob)?;
    if row_start.len() != blob.rows + 1 || cols.len() != n || vals.len() != n {
        return Err(KernelError::BufferSize);
    }
    let (mut e, mut row) = (0usize, 0usize);
    row_start[0] = 0;
    let mut err = Ok(());
    blob.for_each_nonzero(|r, c, w| {
        if err.is_err() {
            return;
        }
        close_rows(r, &mut e, &mut row, row_start, cols, vals);
        if e >= n {
            err = Err(KernelError::BufferSize);
            return;
        }
        cols[e] = c as u32;
        vals[e] = w as i16;
        e += 1;
    })?;
    err?;
    close_rows(blob.rows, &mut e, &mut row, row_start, cols, vals);
    if e != n {
        return Err(KernelError::BufferSize);
    }
    Ok(())
}

/// Ends rows `row..upto`: pads an odd row with a zero weight and records the next start.
fn close_rows(
    upto: usize,
    e: &mut usize,
    row: &mut usize,
    row_start: &mut [u32],
    cols: &mut [u32],
    vals: &mut [i16],
) {
    while *row < upto {
        if (*e - row_start[*row] as usize) % 2 == 1 {
            cols[*e] = cols[*e - 1];
            vals[*e] = 0;
            *e += 1;
        }
        *row += 1;
        row_start[*row] = *e as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sparse::{encode_tfsr2, tfsr2_len, Encoding, Layout};

    #[test]
    fn plans_from_dense_and_from_blobs_agree() {
        let rows = 5;
        let k = 11;
        let w: Vec<i8> = (0..rows * k)
            .map(|i| {
                if (i * 7) % 5 == 0 {
                    (i as i8).wrapping_mul(3) | 1
                } else {
                    0
                }
            })
            .collect();
        let n = plan_len(&w, rows, k).unwrap();
        let (mut rs, mut c, mut v) = (vec![0u32; rows + 1], vec![0u32; n], vec![0i16; n]);
        build_plan(&w, rows, k, &mut rs, &mut c, &mut v).unwrap();
        let plan = SparsePlan::new(rows, k, &rs, &c, &v).unwrap();
        let mut back = vec![0i32; rows * k];
        for r in 0..rows {
            let (cs, vs) = plan.row(r);
            for (&cc, &vv) in cs.iter().zip(vs) {
                back[r * k + cc as usize] += vv as i32;
            }
        }
        assert_eq!(back, w.iter().map(|&x| x as i32).collect::<Vec<_>>());
        for layout in [Layout::Bitmap, Layout::Gaps] {
            let e = Encoding { layout, block: 1 };
            let mut blob = vec![0u8; tfsr2_len(&w, rows, k, e).unwrap()];
            encode_tfsr2(&w, rows, k, e, &mut blob).unwrap();
            let t = Tfsr2 {
                rows,
                row_len: k,
                data: &blob,
            };
            assert_eq!(plan_len_tfsr2(&t).unwrap(), n);
            let (mut rs2, mut c2, mut v2) = (vec![0u32; rows + 1], vec![0u32; n], vec![0i16; n]);
            build_plan_tfsr2(&t, &mut rs2, &mut c2, &mut v2).unwrap();
            assert_eq!(
                (rs2.clone(), c2.clone(), v2.clone()),
                (rs.clone(), c.clone(), v.clone())
            );
        }
    }

    #[test]
    fn bad_plans_are_rejected() {
        assert!(SparsePlan::new(1, 4, &[0, 2], &[0, 4], &[1, 1]).is_err());
        assert!(SparsePlan::new(1, 4, &[0, 1], &[0], &[1]).is_err());
        assert!(SparsePlan::new(2, 4, &[0, 2], &[0, 1], &[1, 1]).is_err());
        assert!(SparsePlan::new(1, 4, &[0, 2], &[0, 1], &[1, 200]).is_err());
        assert!(SparsePlan::new(1, 4, &[0, 2], &[0, 1], &[1, -128]).is_ok());
    }
}
