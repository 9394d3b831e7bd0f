//! Named tensor shapes shared by all kernels (never rank-prefixed arrays).

/// An NHWC activation shape `[N, H, W, C]`. Lower-rank tensors use 1 for missing leading dims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape4 {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Shape4 {
    pub const fn new(n: usize, h: usize, w: usize, c: usize) -> Self {
        Shape4 { n, h, w, c }
    }

    /// Element count, or `None` on overflow (shapes come from untrusted model files).
    pub fn elements(&self) -> Option<usize> {
        self.n
            .checked_mul(self.h)?
            .checked_mul(self.w)?
            .checked_mul(self.c)
    }

    /// Offset of element `[n, y, x, c]` in a dense NHWC buffer.
    #[inline(always)]
    pub fn offset(&self, n: usize, y: usize, x: usize, c: usize) -> usize {
        ((n * self.h + y) * self.w + x) * self.c + c
    }
}
