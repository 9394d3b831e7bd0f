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
    fn detection_agrees_with_std() {
        #[cfg(target_arch = "x86_64")]
        assert_eq!(super::has_avx2(), std::is_x86_feature_detected!("avx2"));
    }
}
