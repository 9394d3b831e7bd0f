//! Timing shared by the kernel benches: the best of several rounds, so a scheduler hiccup on
//! a loaded machine lengthens one round rather than the result.
use std::time::Instant;

/// Seconds per call of `f`: one warm-up call, then the fastest of `rounds` rounds of `reps`
/// calls each.
pub fn best_of<F: FnMut()>(rounds: usize, reps: usize, mut f: F) -> f64 {
    f();
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    best
}
