//! `no_std` single-precision `exp` and `tanh` for the float activation kernels.
//!
//! `core` has no transcendental functions, and the float SOFTMAX / LOGISTIC / TANH kernels
//! must run on a Cortex-M4F, so these stay in `f32` (no soft-float `f64`). `expf` uses the
//! classic Cody–Waite range reduction `x = n·ln2 + r` with ln2 split in two parts (exact
//! product for |n| ≤ 2^9) and a degree-6 minimax polynomial on `|r| ≤ ln2/2`, then scales by
//! `2^n` through the exponent bits. Relative error is a few ulp (< 1e-6, tested against
//! `std`). These are not bit-identical to a libm's `expf`, so the float kernels match TFLite
//! to within float rounding, not bit for bit.

// The coefficients keep the digits they were fitted with; f32 rounding of the literals is
// part of the fit.
#![allow(clippy::excessive_precision)]

const LN2_HI: f32 = 0.693_359_375; // exactly representable with 9 trailing zero bits
const LN2_LO: f32 = -2.121_944_4e-4;
const LOG2E: f32 = core::f32::consts::LOG2_E;

/// `floor` for `f32` without std.
#[inline]
fn floorf(x: f32) -> f32 {
    if x.is_nan() || x.abs() >= 8_388_608.0 {
        return x; // already integral, or NaN/inf
    }
    let t = x as i32 as f32;
    if t > x {
        t - 1.0
    } else {
        t
    }
}

/// `2^n` as an `f32`, for `n` in the normal exponent range.
#[inline]
fn pow2i(n: i32) -> f32 {
    f32::from_bits(((n + 127) as u32) << 23)
}

/// `e^x` in single precision.
pub fn expf(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > 88.722_84 {
        return f32::INFINITY;
    }
    if x < -103.972_08 {
        return 0.0;
    }
    let n = floorf(LOG2E * x + 0.5);
    let r = (x - n * LN2_HI) - n * LN2_LO;
    let r2 = r * r;
    // Polynomial for (e^r − 1 − r) / r² on |r| ≤ ln2/2 (Taylor-derived minimax coefficients).
    let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    let e = p * r2 + r + 1.0;
    let n = n as i32;
    // Scale in two steps so results near the subnormal or overflow boundary stay exact.
    if n < -126 {
        e * pow2i(n + 64) * pow2i(-64)
    } else if n > 127 {
        e * pow2i(n - 1) * 2.0
    } else {
        e * pow2i(n)
    }
}

/// `tanh(x)` in single precision.
pub fn tanhf(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let r = if a < 0.625 {
        // Odd polynomial avoids the cancellation of 1 − 2/(e^2a + 1) near zero.
        let z = a * a;
        let p = (((-5.704_988_7e-3 * z + 2.063_908_9e-2) * z - 5.373_971_6e-2) * z
            + 1.333_144_2e-1)
            * z
            - 3.333_328_2e-1;
        a + a * z * p
    } else if a > 9.01 {
        // tanh rounds to 1 in f32 beyond here.
        1.0
    } else {
        1.0 - 2.0 / (expf(2.0 * a) + 1.0)
    };
    if x < 0.0 {
        -r
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expf_is_accurate() {
        let mut worst = 0f64;
        let mut x = -103.0f32;
        while x < 88.7 {
            let got = expf(x) as f64;
            let want = (x as f64).exp();
            if want > f32::MIN_POSITIVE as f64 {
                worst = worst.max(((got - want) / want).abs());
            } else {
                assert!((got - want).abs() <= 2.0 * 1.4e-45, "{x}");
            }
            x += 0.0137;
        }
        assert!(worst < 1e-6, "worst relative error {worst}");
        assert_eq!(expf(0.0), 1.0);
        assert_eq!(expf(100.0), f32::INFINITY);
        assert_eq!(expf(-200.0), 0.0);
        assert!(expf(f32::NAN).is_nan());
    }

    #[test]
    fn tanhf_is_accurate() {
        let mut worst = 0f64;
        let mut x = -12.0f32;
        while x < 12.0 {
            let got = tanhf(x) as f64;
            let want = (x as f64).tanh();
            if want != 0.0 {
                worst = worst.max(((got - want) / want).abs());
            }
            x += 0.001_37;
        }
        assert!(worst < 1e-6, "worst relative error {worst}");
        assert_eq!(tanhf(0.0), 0.0);
        assert_eq!(tanhf(50.0), 1.0);
        assert_eq!(tanhf(-50.0), -1.0);
        assert_eq!(tanhf(1e-30), 1e-30);
    }
}
