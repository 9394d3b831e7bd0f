//! Test-only helpers: a tiny deterministic PRNG and random tensor fillers.

pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `[lo, hi]` (inclusive).
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }
    pub(crate) fn usize(&mut self, lo: usize, hi: usize) -> usize {
        self.range(lo as i64, hi as i64) as usize
    }
    pub(crate) fn f32(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
    }
    pub(crate) fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.range(-128, 127) as i8).collect()
    }
    pub(crate) fn i32s(&mut self, n: usize, lo: i32, hi: i32) -> Vec<i32> {
        (0..n)
            .map(|_| self.range(lo as i64, hi as i64) as i32)
            .collect()
    }
    pub(crate) fn f32s(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.f32(lo, hi)).collect()
    }
    /// Realistic per-channel requantization: multipliers in [2^30, 2^31), shifts −12..=0
    /// (plus an occasional positive shift, which TFLM also supports).
    pub(crate) fn multipliers(&mut self, n: usize) -> (Vec<i32>, Vec<i32>) {
        let m = (0..n)
            .map(|_| self.range(1 << 30, i32::MAX as i64) as i32)
            .collect();
        let s = (0..n)
            .map(|_| {
                if self.range(0, 9) == 0 {
                    self.range(0, 2) as i32
                } else {
                    self.range(-12, -1) as i32
                }
            })
            .collect();
        (m, s)
    }
    /// An activation range `lo <= hi` inside int8.
    pub(crate) fn act_range(&mut self) -> (i32, i32) {
        match self.range(0, 2) {
            0 => (-128, 127),
            _ => {
                let a = self.range(-128, 127) as i32;
                let b = self.range(-128, 127) as i32;
                (a.min(b), a.max(b))
            }
        }
    }
}
