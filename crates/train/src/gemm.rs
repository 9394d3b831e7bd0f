//! The one place where the engine calls a GEMM crate. `sgemm` is a safe, bounds-checked
//! wrapper over `matrixmultiply::sgemm` or `gemm::gemm` (both take raw pointers and strides).
//! Every conv / dense forward and backward goes through it, single-threaded: parallelism is
//! across the batch, one level up, so results never depend on a GEMM's internal threading.
//!
//! Invariant checked before every call: the furthest element addressed through each
//! (rows, cols, row stride, col stride) view lies inside its slice.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU8, Ordering};

/// Which GEMM implementation `sgemm` dispatches to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemmBackend {
    /// The `matrixmultiply` crate (runtime-detected AVX2/FMA kernels).
    MatrixMultiply,
    /// The `gemm` crate (runtime-detected AVX2/AVX-512 kernels), single-threaded.
    Gemm,
}

static BACKEND: AtomicU8 = AtomicU8::new(0);

/// Selects the GEMM backend for the whole process (benchmarks compare both).
pub fn set_backend(b: GemmBackend) {
    BACKEND.store(
        match b {
            GemmBackend::MatrixMultiply => 0,
            GemmBackend::Gemm => 1,
        },
        Ordering::Relaxed,
    );
}

/// The backend currently in use.
pub fn backend() -> GemmBackend {
    match BACKEND.load(Ordering::Relaxed) {
        0 => GemmBackend::MatrixMultiply,
        _ => GemmBackend::Gemm,
    }
}

/// A strided read-only matrix view.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    /// Backing storage.
    pub data: &'a [f32],
    /// Distance between rows.
    pub rs: usize,
    /// Distance between columns.
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// Row-major view with `cols` columns.
    pub fn rm(data: &'a [f32], cols: usize) -> Self {
        MatRef {
            data,
            rs: cols,
            cs: 1,
        }
    }
    /// The transpose of a row-major matrix with `cols` columns.
    pub fn rm_t(data: &'a [f32], cols: usize) -> Self {
        MatRef {
            data,
            rs: 1,
            cs: cols,
        }
    }
}

fn fits(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < len
}

/// `C[m×n] = A[m×k] · B[k×n] + beta · C`, C row-major with `n` columns (`beta` 0 or 1 in
/// practice). Panics only on a programming error (views that do not fit their slices).
pub fn sgemm(m: usize, k: usize, n: usize, a: MatRef, b: MatRef, beta: f32, c: &mut [f32]) {
    sgemm_with(backend(), m, k, n, a, b, beta, c)
}

/// [`sgemm`] with an explicit backend.
#[allow(clippy::too_many_arguments)]
pub fn sgemm_with(
    be: GemmBackend,
    m: usize,
    k: usize,
    n: usize,
    a: MatRef,
    b: MatRef,
    beta: f32,
    c: &mut [f32],
) {
    assert!(
        fits(a.data.len(), m, k, a.rs, a.cs),
        "gemm: A view out of bounds"
    );
    assert!(
        fits(b.data.len(), k, n, b.rs, b.cs),
        "gemm: B view out of bounds"
    );
    assert!(fits(c.len(), m, n, n, 1), "gemm: C view out of bounds");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for v in &mut c[..m * n] {
            *v *= beta;
        }
        return;
    }
    match be {
        GemmBackend::MatrixMultiply => {
            // SAFETY: the three asserts above prove every addressed element is inside its
            // slice; `c` is borrowed mutably so it cannot alias `a` or `b`.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    n,
                    1.0,
                    a.data.as_ptr(),
                    a.rs as isize,
                    a.cs as isize,
                    b.data.as_ptr(),
                    b.rs as isize,
                    b.cs as isize,
                    beta,
                    c.as_mut_ptr(),
                    n as isize,
                    1,
                )
            }
        }
        GemmBackend::Gemm => {
            // SAFETY: as above; `gemm` computes dst = alpha·dst + beta·lhs·rhs and reads dst
            // only when `read_dst` is true.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    c.as_mut_ptr(),
                    1,
                    n as isize,
                    beta != 0.0,
                    a.data.as_ptr(),
                    a.cs as isize,
                    a.rs as isize,
                    b.data.as_ptr(),
                    b.cs as isize,
                    b.rs as isize,
                    beta,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, k: usize, n: usize, a: MatRef, b: MatRef) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    s += a.data[i * a.rs + p * a.cs] as f64 * b.data[p * b.rs + j * b.cs] as f64;
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn both_backends_match_naive_with_transposes() {
        let (m, k, n) = (7, 13, 5);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        for be in [GemmBackend::MatrixMultiply, GemmBackend::Gemm] {
            for (av, bv) in [
                (MatRef::rm(&a, k), MatRef::rm(&b, n)),
                (MatRef::rm_t(&a, m), MatRef::rm_t(&b, k)),
            ] {
                let want = naive(m, k, n, av, bv);
                let mut c = vec![1.0; m * n];
                sgemm_with(be, m, k, n, av, bv, 0.0, &mut c);
                for (x, y) in c.iter().zip(&want) {
                    assert!((x - y).abs() < 1e-4, "{be:?}: {x} vs {y}");
                }
                let mut c2 = want.clone();
                sgemm_with(be, m, k, n, av, bv, 1.0, &mut c2);
                for (x, y) in c2.iter().zip(&want) {
                    assert!((x - 2.0 * y).abs() < 1e-4);
                }
            }
        }
    }
}
