//! Runs a closure compiled for the best vector ISA the CPU has (AVX2+FMA / AVX-512 on x86-64),
//! chosen at run time through `pulp`'s safe dispatch. The element-wise and depthwise loops of
//! this crate are written as plain iterator code over contiguous channels; wrapped in
//! [`vectorized`] they auto-vectorize with 8- or 16-wide registers instead of baseline SSE2.
//! Results do not depend on the ISA for these loops (no reassociation: each output element's
//! sum runs in the same order), so determinism holds across machines.

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
