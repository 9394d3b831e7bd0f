//! Int8 dot-product micro-kernels shared by the fast conv and fully-connected variants.
//!
//! Inputs are widened as `x + input_offset` in i16 (exact when the offset is in [−127, 128],
//! which the callers check) and multiplied by the sign-extended i8 weight in i32. Written as
//! plain loops over contiguous slices so LLVM turns them into `pmaddwd`-style vector code; the
//! several accumulators of one loop share each widened input load (register blocking).
//! All arithmetic wraps, like the reference kernels' int32 accumulators on every target.

#[inline(always)]
fn mac(acc: i32, x: i16, w: i8) -> i32 {
    acc.wrapping_add((x as i32).wrapping_mul(w as i32))
}

/// `Σ (x[k] + off) · w[k]`.
#[inline(always)]
pub(crate) fn dot1(x: &[i8], off: i16, w: &[i8]) -> i32 {
    let w = &w[..x.len()];
    let mut a = 0i32;
    for k in 0..x.len() {
        a = mac(a, (x[k] as i16).wrapping_add(off), w[k]);
    }
    a
}

/// Four dot products of one input run against four weight rows.
#[inline(always)]
pub(crate) fn dot4(x: &[i8], off: i16, w: [&[i8]; 4]) -> [i32; 4] {
    let n = x.len();
    let (w0, w1, w2, w3) = (&w[0][..n], &w[1][..n], &w[2][..n], &w[3][..n]);
    let (mut a0, mut a1, mut a2, mut a3) = (0i32, 0i32, 0i32, 0i32);
    for k in 0..n {
        let xv = (x[k] as i16).wrapping_add(off);
        a0 = mac(a0, xv, w0[k]);
        a1 = mac(a1, xv, w1[k]);
        a2 = mac(a2, xv, w2[k]);
        a3 = mac(a3, xv, w3[k]);
    }
    [a0, a1, a2, a3]
}

/// Two input runs against four weight rows (a 2×4 GEMM tile): `[[x0·w0..w3], [x1·w0..w3]]`.
#[inline(always)]
pub(crate) fn dot2x4(x0: &[i8], x1: &[i8], off: i16, w: [&[i8]; 4]) -> [[i32; 4]; 2] {
    let n = x0.len();
    let x1 = &x1[..n];
    let (w0, w1, w2, w3) = (&w[0][..n], &w[1][..n], &w[2][..n], &w[3][..n]);
    let mut a = [[0i32; 4]; 2];
    for k in 0..n {
        let xa = (x0[k] as i16).wrapping_add(off);
        let xb = (x1[k] as i16).wrapping_add(off);
        a[0][0] = mac(a[0][0], xa, w0[k]);
        a[0][1] = mac(a[0][1], xa, w1[k]);
        a[0][2] = mac(a[0][2], xa, w2[k]);
        a[0][3] = mac(a[0][3], xa, w3[k]);
        a[1][0] = mac(a[1][0], xb, w0[k]);
        a[1][1] = mac(a[1][1], xb, w1[k]);
        a[1][2] = mac(a[1][2], xb, w2[k]);
        a[1][3] = mac(a[1][3], xb, w3[k]);
    }
    a
}

#[inline(always)]
fn mac16(acc: i32, x: i16, w: i8) -> i32 {
    acc.wrapping_add((x as i32).wrapping_mul(w as i32))
}

/// Four dot products of a pre-widened patch (`x + input_offset`, zero for padding) against
/// four weight rows.
#[inline(always)]
pub(crate) fn dot4_p(x: &[i16], w: [&[i8]; 4]) -> [i32; 4] {
    let n = x.len();
    let (w0, w1, w2, w3) = (&w[0][..n], &w[1][..n], &w[2][..n], &w[3][..n]);
    let (mut a0, mut a1, mut a2, mut a3) = (0i32, 0i32, 0i32, 0i32);
    for k in 0..n {
        a0 = mac16(a0, x[k], w0[k]);
        a1 = mac16(a1, x[k], w1[k]);
        a2 = mac16(a2, x[k], w2[k]);
        a3 = mac16(a3, x[k], w3[k]);
    }
    [a0, a1, a2, a3]
}

/// `dot4_p` for two patches at once (a 2×4 tile sharing each weight load).
#[inline(always)]
pub(crate) fn dot2x4_p(x0: &[i16], x1: &[i16], w: [&[i8]; 4]) -> [[i32; 4]; 2] {
    let n = x0.len();
    let x1 = &x1[..n];
    let (w0, w1, w2, w3) = (&w[0][..n], &w[1][..n], &w[2][..n], &w[3][..n]);
    let mut a = [[0i32; 4]; 2];
    for k in 0..n {
        a[0][0] = mac16(a[0][0], x0[k], w0[k]);
        a[0][1] = mac16(a[0][1], x0[k], w1[k]);
        a[0][2] = mac16(a[0][2], x0[k], w2[k]);
        a[0][3] = mac16(a[0][3], x0[k], w3[k]);
        a[1][0] = mac16(a[1][0], x1[k], w0[k]);
        a[1][1] = mac16(a[1][1], x1[k], w1[k]);
        a[1][2] = mac16(a[1][2], x1[k], w2[k]);
        a[1][3] = mac16(a[1][3], x1[k], w3[k]);
    }
    a
}

/// One dot product of a pre-widened patch against a weight row.
#[inline(always)]
pub(crate) fn dot1_p(x: &[i16], w: &[i8]) -> i32 {
    let w = &w[..x.len()];
    let mut a = 0i32;
    for k in 0..x.len() {
        a = mac16(a, x[k], w[k]);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::super::testutil::Rng;
    use super::*;

    #[test]
    fn blocked_dots_equal_scalar() {
        let mut r = Rng::new(9);
        for n in 0..70 {
            let x0 = r.i8s(n);
            let x1 = r.i8s(n);
            let ws: Vec<Vec<i8>> = (0..4).map(|_| r.i8s(n)).collect();
            let off = r.range(-127, 128) as i16;
            let naive = |x: &[i8], w: &[i8]| -> i32 {
                x.iter()
                    .zip(w)
                    .map(|(&a, &b)| (a as i32 + off as i32) * b as i32)
                    .sum()
            };
            let w = [&ws[0][..], &ws[1][..], &ws[2][..], &ws[3][..]];
            let d4 = dot4(&x0, off, w);
            let d24 = dot2x4(&x0, &x1, off, w);
            for j in 0..4 {
                assert_eq!(d4[j], naive(&x0, &ws[j]));
                assert_eq!(d24[0][j], naive(&x0, &ws[j]));
                assert_eq!(d24[1][j], naive(&x1, &ws[j]));
                assert_eq!(dot1(&x1, off, &ws[j]), naive(&x1, &ws[j]));
                let p0: Vec<i16> = x0.iter().map(|&v| v as i16 + off).collect();
                let p1: Vec<i16> = x1.iter().map(|&v| v as i16 + off).collect();
                assert_eq!(dot4_p(&p0, w)[j], naive(&x0, &ws[j]));
                assert_eq!(dot2x4_p(&p0, &p1, w)[1][j], naive(&x1, &ws[j]));
                assert_eq!(dot2x4_p(&p0, &p1, w)[0][j], naive(&x0, &ws[j]));
                assert_eq!(dot1_p(&p1, &ws[j]), naive(&x1, &ws[j]));
            }
        }
    }
}
