//! Deterministic batch splitting. A batch of `n` samples is cut into at most [`MAX_CHUNKS`]
//! equal chunks (the last may be shorter); the cut depends only on `n`, never on the number of
//! threads, and per-chunk partial sums (weight gradients, BN statistics) are reduced in chunk
//! order. So a fixed seed gives bit-identical weights on any machine and thread count.

/// Upper bound on chunks per batch (enough to balance 2–8 cores).
pub const MAX_CHUNKS: usize = 8;

/// Samples per chunk for a batch of `n`.
pub fn chunk_size(n: usize) -> usize {
    n.div_ceil(MAX_CHUNKS).max(1)
}

/// Number of chunks for a batch of `n`.
pub fn num_chunks(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        n.div_ceil(chunk_size(n))
    }
}

/// `dst = Σ partials[i]` over the chunks, in chunk order.
pub fn reduce_partials(partials: &[f32], len: usize, chunks: usize, dst: &mut [f32]) {
    dst[..len].copy_from_slice(&partials[..len]);
    for c in 1..chunks {
        let p = &partials[c * len..(c + 1) * len];
        for (d, v) in dst[..len].iter_mut().zip(p) {
            *d += v;
        }
    }
}
