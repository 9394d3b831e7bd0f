//! Runs a closure compiled for the best vector ISA the CPU has (AVX2+FMA / AVX-512 on x86-64),
//! chosen at run time through `pulp`'s safe dispatch. The element-wise and depthwise loops of
//! this crate are written as plain iterator code over contiguous channels; wrapped in
//! [`vectorized`] they auto-vectorize with 8- or 16-wide registers instead of baseline SSE2.
//! Results do not depend on the ISA for these loops (no reassociation: each output element's
//! sum runs in the same order), so determinism holds across machines.
//!
//! The small `mul_acc` / `add` / `scale_to` helpers run common channel counts at fixed lengths. Rows here
//! are short (16 or 32 channels): a loop with a run-time trip count is vectorized 16×4 wide and
//! a 16-element row then falls entirely into the scalar remainder. Fixed lengths (8/16/32) vectorize fully, and each element still gets exactly the same operations in
//! the same order as the plain loop (no FMA contraction in Rust), so results are bit-identical.

use pulp::{Arch, Simd, WithSimd};

struct Op<F>(F);

impl<R, F: FnOnce() -> R> WithSimd for Op<F> {
    type Output = R;
    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) -> R {
        (self.0)()
    }
}

/// Calls `f` inside a function compiled with the detected target features. Mark the closure
/// `#[inline(always)]` so its body is compiled there.
#[inline(always)]
pub fn vectorized<R>(f: impl FnOnce() -> R) -> R {
    Arch::new().dispatch(Op(f))
}

// Fixed-length bodies for the common channel counts: with the length known at compile time
// each becomes a handful of full-width vector ops. `false` when the slices do not have length N.
#[inline(always)]
fn mul_acc_n<const N: usize>(d: &mut [f32], a: &[f32], b: &[f32]) -> bool {
    let (Ok(d), Ok(a), Ok(b)) = (
        <&mut [f32; N]>::try_from(d),
        <&[f32; N]>::try_from(a),
        <&[f32; N]>::try_from(b),
    ) else {
        return false;
    };
    for l in 0..N {
        d[l] += a[l] * b[l];
    }
    true
}

#[inline(always)]
fn add_n<const N: usize>(d: &mut [f32], a: &[f32]) -> bool {
    let (Ok(d), Ok(a)) = (<&mut [f32; N]>::try_from(d), <&[f32; N]>::try_from(a)) else {
        return false;
    };
    for l in 0..N {
        d[l] += a[l];
    }
    true
}

#[inline(always)]
fn scale_to_n<const N: usize>(d: &mut [f32], a: &[f32], s: f32) -> bool {
    let (Ok(d), Ok(a)) = (<&mut [f32; N]>::try_from(d), <&[f32; N]>::try_from(a)) else {
        return false;
    };
    for l in 0..N {
        d[l] = a[l] * s;
    }
    true
}

/// `d[i] += a[i] * b[i]` over the common length.
#[inline(always)]
pub fn mul_acc(d: &mut [f32], a: &[f32], b: &[f32]) {
    let n = d.len().min(a.len()).min(b.len());
    let (d, a, b) = (&mut d[..n], &a[..n], &b[..n]);
    let done = match n {
        8 => mul_acc_n::<8>(d, a, b),
        16 => mul_acc_n::<16>(d, a, b),
        32 => mul_acc_n::<32>(d, a, b),
        _ => false,
    };
    if !done {
        for ((d, a), b) in d.iter_mut().zip(a).zip(b) {
            *d += a * b;
        }
    }
}

/// `d[i] += a[i]` over the common length.
#[inline(always)]
pub fn add(d: &mut [f32], a: &[f32]) {
    let n = d.len().min(a.len());
    let (d, a) = (&mut d[..n], &a[..n]);
    let done = match n {
        8 => add_n::<8>(d, a),
        16 => add_n::<16>(d, a),
        32 => add_n::<32>(d, a),
        _ => false,
    };
    if !done {
        for (d, a) in d.iter_mut().zip(a) {
            *d += a;
        }
    }
}

/// `d[i] = a[i] * s` over the common length.
#[inline(always)]
pub fn scale_to(d: &mut [f32], a: &[f32], s: f32) {
    let n = d.len().min(a.len());
    let (d, a) = (&mut d[..n], &a[..n]);
    let done = match n {
        8 => scale_to_n::<8>(d, a, s),
        16 => scale_to_n::<16>(d, a, s),
        32 => scale_to_n::<32>(d, a, s),
        _ => false,
    };
    if !done {
        for (d, a) in d.iter_mut().zip(a) {
            *d = a * s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_match_plain_loops_on_odd_lengths() {
        for n in [1usize, 7, 8, 16, 19, 32] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.3).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7).cos()).collect();
            let d0: Vec<f32> = (0..n).map(|i| i as f32 * 0.1).collect();
            let mut d = d0.clone();
            mul_acc(&mut d, &a, &b);
            for i in 0..n {
                assert_eq!(d[i], d0[i] + a[i] * b[i]);
            }
            let mut d = d0.clone();
            add(&mut d, &a);
            for i in 0..n {
                assert_eq!(d[i], d0[i] + a[i]);
            }
            let mut d = d0.clone();
            scale_to(&mut d, &a, 0.25);
            for i in 0..n {
                assert_eq!(d[i], a[i] * 0.25);
            }
        }
    }
}
