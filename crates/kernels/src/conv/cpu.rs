//! Runtime CPU feature detection for the host fast paths, without std.
//!
//! The crate is built for the baseline target (SSE2 on x86-64), so the auto-vectorized fast
//! kernels are compiled a second time inside `#[target_feature(enable = "avx2")]` wrappers and
//! picked here at run time. Detection uses `cpuid` and `xgetbv` from `core::arch` (the OS must
//! have enabled the AVX register state) and is cached in an atomic. On other architectures
//! (Cortex-M, aarch64) everything reports false and the portable code runs.

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::{__cpuid, __cpuid_count, _xgetbv};
    use core::sync::atomic::{AtomicU8, Ordering};

    static AVX2: AtomicU8 = AtomicU8::new(0);

    #[target_feature(enable = "xsave")]
    unsafe fn xcr0() -> u64 {
        _xgetbv(0)
    }

    fn detect() -> bool {
        #[allow(unused_unsafe)]
        // SAFETY: `cpuid` exists on every x86-64 CPU; leaf 7 is only read when leaf 0 says
        // it exists.
        let (leaf0, leaf1) = unsafe { (__cpuid(0), __cpuid(1)) };
        let osxsave = leaf1.ecx & (1 << 27) != 0;
        let avx = leaf1.ecx & (1 << 28) != 0;
        if !(osxsave && avx) || leaf0.eax < 7 {
            return false;
        }
        // SAFETY: OSXSAVE is set, so `xgetbv` is available and enabled by the OS.
        let xcr0 = unsafe { xcr0() };
        // The OS must save XMM and YMM state (bits 1 and 2).
        if xcr0 & 0b110 != 0b110 {
            return false;
        }
        #[allow(unused_unsafe)]
        // SAFETY: leaf 7 exists (checked above).
        let leaf7 = unsafe { __cpuid_count(7, 0) };
        leaf7.ebx & (1 << 5) != 0
    }

    pub(crate) fn has_avx2() -> bool {
        match AVX2.load(Ordering::Relaxed) {
            1 => false,
            2 => true,
            _ => {
                let v = detect();
                AVX2.store(if v { 2 } else { 1 }, Ordering::Relaxed);
                v
            }
        }
    }
}

/// Whether the AVX2 builds of the fast kernels may run on this CPU.
#[inline]
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86::has_avx2()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Proof that the CPU has AVX2: only [`Avx2::detect`] makes one, so holding it makes the
/// explicit-intrinsic kernels below sound to call.
#[derive(Clone, Copy)]
pub(crate) struct Avx2 {
    _private: (),
}

impl Avx2 {
    #[inline]
    pub(crate) fn detect() -> Option<Avx2> {
        if has_avx2() {
            Some(Avx2 { _private: () })
        } else {
            None
        }
    }

    /// `dot2x4_p` with `vpmaddwd`: LLVM's auto-vectorizer widens these i16 × i8 products to
    /// 32-bit multiplies (`vpmulld`, half the lanes and slower), so the hot GEMM tile of the
    /// patch conv is written with intrinsics. Same wrapping i32 result as the portable loop:
    /// each `vpmaddwd` pair sum is at most 2·255·128, far inside i32.
    #[inline(always)]
    pub(crate) fn dot2x4_p(self, x0: &[i16], x1: &[i16], w: [&[i8]; 4]) -> [[i32; 4]; 2] {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `self` exists only if the CPU supports AVX2 (see `detect`).
            unsafe { avx2_impl::dot2x4_p(x0, x1, w) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            super::dot::dot2x4_p(x0, x1, w)
        }
    }
}

impl Avx2 {
    /// One patch against four weight rows with `vpmaddwd` (see [`Avx2::dot2x4_p`]).
    #[inline(always)]
    pub(crate) fn dot1x4_p(self, x0: &[i16], w: [&[i8]; 4]) -> [i32; 4] {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `self` exists only if the CPU supports AVX2 (see `detect`).
            unsafe { avx2_impl::dot1x4_p(x0, w) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            super::dot::dot4_p(x0, w)
        }
    }

    /// Depthwise tap update `acc[i] += (x[i] + off) · w[i]` over `acc.len()` channels, eight
    /// per instruction (32-bit lanes: the auto-vectorized i16 loop leaves channel counts
    /// below 16 to scalar code). `x` and `w` must be at least as long as `acc`.
    #[inline(always)]
    pub(crate) fn dw_mac(self, acc: &mut [i32], x: &[i8], w: &[i8], off: i32) {
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `self` exists only if the CPU supports AVX2 (see `detect`).
            unsafe { avx2_impl::dw_mac(acc, x, w, off) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            for i in 0..acc.len() {
                let v = (x[i] as i32).wrapping_add(off).wrapping_mul(w[i] as i32);
                acc[i] = acc[i].wrapping_add(v);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2_impl {
    use core::arch::x86_64::*;

    /// # Safety
    /// The CPU must support AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn dot1x4_p(x0: &[i16], w: [&[i8]; 4]) -> [i32; 4] {
        let n = x0.len();
        // Bounds: every slice is cut to exactly `n` (panicking if shorter); loads cover
        // `k..k + 16` with `k + 16 <= n`.
        let w = [&w[0][..n], &w[1][..n], &w[2][..n], &w[3][..n]];
        let mut acc = [_mm256_setzero_si256(); 4];
        let n16 = n / 16 * 16;
        let mut k = 0;
        while k < n16 {
            // SAFETY: `k + 16 <= n`, all slices have length `n`.
            let a = _mm256_loadu_si256(x0.as_ptr().add(k) as *const __m256i);
            for j in 0..4 {
                let wv =
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(w[j].as_ptr().add(k) as *const __m128i));
                acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(a, wv));
            }
            k += 16;
        }
        let mut out = [0i32; 4];
        for j in 0..4 {
            out[j] = hsum(acc[j]);
            for kk in n16..n {
                out[j] = out[j].wrapping_add((x0[kk] as i32).wrapping_mul(w[j][kk] as i32));
            }
        }
        out
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn dw_mac(acc: &mut [i32], x: &[i8], w: &[i8], off: i32) {
        let n = acc.len();
        // Bounds: both inputs are cut to exactly `n` (panicking if shorter), and every vector
        // access below covers `c..c + 8` with `c + 8 <= n`.
        let (x, w) = (&x[..n], &w[..n]);
        let offv = _mm256_set1_epi32(off);
        let n8 = n / 8 * 8;
        let mut c = 0;
        while c < n8 {
            // SAFETY: `c + 8 <= n`: 8-byte loads from `x` and `w`, 32-byte load/store of `acc`.
            let xv = _mm256_cvtepi8_epi32(_mm_loadl_epi64(x.as_ptr().add(c) as *const __m128i));
            let wv = _mm256_cvtepi8_epi32(_mm_loadl_epi64(w.as_ptr().add(c) as *const __m128i));
            let a = _mm256_loadu_si256(acc.as_ptr().add(c) as *const __m256i);
            let prod = _mm256_mullo_epi32(_mm256_add_epi32(xv, offv), wv);
            _mm256_storeu_si256(
                acc.as_mut_ptr().add(c) as *mut __m256i,
                _mm256_add_epi32(a, prod),
            );
            c += 8;
        }
        for i in n8..n {
            let v = (x[i] as i32).wrapping_add(off).wrapping_mul(w[i] as i32);
            acc[i] = acc[i].wrapping_add(v);
        }
    }

    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn hsum(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        _mm_cvtsi128_si32(s)
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn dot2x4_p(x0: &[i16], x1: &[i16], w: [&[i8]; 4]) -> [[i32; 4]; 2] {
        let n = x0.len();
        // Bounds: every slice is cut to exactly `n` here (panicking if shorter), so the
        // loads below, at offsets `k..k + 16` with `k + 16 <= n`, stay inside them.
        let x1 = &x1[..n];
        let w = [&w[0][..n], &w[1][..n], &w[2][..n], &w[3][..n]];
        let mut acc = [_mm256_setzero_si256(); 8];
        let n16 = n / 16 * 16;
        let mut k = 0;
        while k < n16 {
            // SAFETY: `k + 16 <= n` and all slices have length `n` (see above); unaligned
            // loads are used throughout.
            let a = _mm256_loadu_si256(x0.as_ptr().add(k) as *const __m256i);
            let b = _mm256_loadu_si256(x1.as_ptr().add(k) as *const __m256i);
            for j in 0..4 {
                let wv =
                    _mm256_cvtepi8_epi16(_mm_loadu_si128(w[j].as_ptr().add(k) as *const __m128i));
                acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(a, wv));
                acc[4 + j] = _mm256_add_epi32(acc[4 + j], _mm256_madd_epi16(b, wv));
            }
            k += 16;
        }
        let mut out = [[0i32; 4]; 2];
        for j in 0..4 {
            out[0][j] = hsum(acc[j]);
            out[1][j] = hsum(acc[4 + j]);
            for kk in n16..n {
                let wv = w[j][kk] as i32;
                out[0][j] = out[0][j].wrapping_add((x0[kk] as i32).wrapping_mul(wv));
                out[1][j] = out[1][j].wrapping_add((x1[kk] as i32).wrapping_mul(wv));
            }
        }
        out
    }
}

/// Defines `$name` dispatching to an AVX2 build of the `#[inline(always)]` body `$body` when
/// the CPU has it, else to the portable build. Both builds are the same Rust code, so they
/// produce identical results; only the instruction selection differs.
macro_rules! simd_dispatch {
    (
        $(#[$m:meta])*
        $vis:vis fn $name:ident $(<$($g:ident: $b:path),*>)? ($($arg:ident: $ty:ty),* $(,)?) => $body:ident
    ) => {
        $(#[$m])*
        $vis fn $name $(<$($g: $b + ?Sized),*>)? ($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                unsafe fn avx2 $(<$($g: $b + ?Sized),*>)? ($($arg: $ty),*) {
                    $body($($arg),*)
                }
                if $crate::conv::cpu::has_avx2() {
                    // SAFETY: the CPU supports AVX2 (runtime check just above).
                    unsafe { avx2($($arg),*) };
                    return;
                }
            }
            $body($($arg),*)
        }
    };
}
pub(crate) use simd_dispatch;

#[cfg(test)]
mod tests {
    #[test]
    fn intrinsic_tile_equals_portable_tile() {
        let Some(simd) = super::Avx2::detect() else {
            return; // nothing to compare on this CPU
        };
        let mut r = super::super::testutil::Rng::new(77);
        for n in 0..80 {
            let x0: Vec<i16> = (0..n).map(|_| r.range(-255, 255) as i16).collect();
            let x1: Vec<i16> = (0..n).map(|_| r.range(-255, 255) as i16).collect();
            let ws: Vec<Vec<i8>> = (0..4).map(|_| r.i8s(n + 3)).collect();
            let w = [&ws[0][..], &ws[1][..], &ws[2][..], &ws[3][..]];
            assert_eq!(
                simd.dot2x4_p(&x0, &x1, w),
                super::super::dot::dot2x4_p(&x0, &x1, w),
                "n = {n}"
            );
            assert_eq!(
                simd.dot1x4_p(&x1, w),
                super::super::dot::dot4_p(&x1, w),
                "n = {n}"
            );
        }
    }

    #[test]
    fn detection_agrees_with_std() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(super::has_avx2(), std::is_x86_feature_detected!("avx2"));
    }
}
