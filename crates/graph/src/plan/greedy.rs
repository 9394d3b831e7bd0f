//! Greedy lifetime-aware offset packing (the TFLM `GreedyMemoryPlanner` idea) and a best-of
//! wrapper that tries several orderings.
//!
//! Algorithm, step by step:
//! 1. sort the buffers by the chosen [`Order`] (ties broken by first use, then id, so the result
//!    is deterministic);
//! 2. take each buffer in turn; collect the already-placed buffers whose lifetimes intersect its
//!    own (`[first_use, last_use]`, inclusive), sorted by offset;
//! 3. walk the gaps between them from offset 0 and place the buffer at the first aligned offset
//!    where it fits (possibly above all of them);
//! 4. the arena is the highest `offset + size`.
//!
//! Two buffers with intersecting lifetimes never overlap in memory: that is the invariant the
//! tests check on every plan. Cost is O(n² log n) in the number of buffers, which is a few
//! hundred at most for MCU models.
use super::{align_up, Buffer, MemoryPlanner};

/// The order in which the greedy packer places buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Largest first (TFLM's choice).
    Size,
    /// Longest lifetime first.
    Lifetime,
    /// Largest `size × lifetime` first (the area in the time × memory plane).
    Area,
    /// Earliest first use first, larger first among equals.
    FirstUse,
}

impl Order {
    pub const ALL: [Order; 4] = [Order::Size, Order::Lifetime, Order::Area, Order::FirstUse];
}

/// Greedy offset packer for one [`Order`].
#[derive(Debug, Clone)]
pub struct GreedyPlanner {
    order: Order,
    alignment: usize,
    buffers: Vec<Buffer>,
    offsets: Option<Vec<usize>>,
}

impl GreedyPlanner {
    /// `alignment` must be a power of two (1 means byte-packed).
    pub fn new(order: Order, alignment: usize) -> Self {
        GreedyPlanner {
            order,
            alignment: alignment.max(1),
            buffers: Vec::new(),
            offsets: None,
        }
    }

    fn compute(&self) -> Vec<usize> {
        let b = &self.buffers;
        let life = |x: &Buffer| (x.last_use - x.first_use + 1) as u128;
        let mut idx: Vec<usize> = (0..b.len()).collect();
        idx.sort_by(|&i, &j| {
            let (x, y) = (&b[i], &b[j]);
            let primary = match self.order {
                Order::Size => y.size.cmp(&x.size),
                Order::Lifetime => life(y).cmp(&life(x)).then(y.size.cmp(&x.size)),
                Order::Area => (y.size as u128 * life(y)).cmp(&(x.size as u128 * life(x))),
                Order::FirstUse => x.first_use.cmp(&y.first_use).then(y.size.cmp(&x.size)),
            };
            primary.then(x.first_use.cmp(&y.first_use)).then(i.cmp(&j))
        });
        let mut offsets = vec![0usize; b.len()];
        let mut placed: Vec<usize> = Vec::with_capacity(b.len());
        for &i in &idx {
            let me = &b[i];
            let mut conflicts: Vec<(usize, usize)> = placed
                .iter()
                .filter(|&&j| b[j].first_use <= me.last_use && me.first_use <= b[j].last_use)
                .map(|&j| (offsets[j], offsets[j].saturating_add(b[j].size)))
                .collect();
            conflicts.sort_unstable();
            let mut candidate = 0usize;
            for (start, end) in conflicts {
                if candidate.saturating_add(me.size) <= start {
                    break;
                }
                candidate = candidate.max(align_up(end, self.alignment));
            }
            offsets[i] = candidate;
            placed.push(i);
        }
        offsets
    }

    fn offsets(&mut self) -> &[usize] {
        if self.offsets.is_none() {
            self.offsets = Some(self.compute());
        }
        self.offsets.as_deref().unwrap_or(&[])
    }
}

impl MemoryPlanner for GreedyPlanner {
    fn add_buffer(&mut self, size: usize, first_use: usize, last_use: usize) -> usize {
        self.offsets = None;
        self.buffers.push(Buffer::new(size, first_use, last_use));
        self.buffers.len() - 1
    }
    fn offset(&mut self, i: usize) -> Option<usize> {
        self.offsets().get(i).copied()
    }
    fn arena_size(&mut self) -> usize {
        let offs = self.offsets().to_vec();
        super::arena_end(&self.buffers, &offs)
    }
}

/// Runs the greedy packer with every [`Order`] and keeps the smallest arena (the first such
/// order on ties, so plans are deterministic).
#[derive(Debug, Clone)]
pub struct BestOfPlanner {
    alignment: usize,
    buffers: Vec<Buffer>,
    best: Option<(Order, Vec<usize>, usize)>,
}

impl BestOfPlanner {
    pub fn new(alignment: usize) -> Self {
        BestOfPlanner {
            alignment: alignment.max(1),
            buffers: Vec::new(),
            best: None,
        }
    }

    /// The order that produced the kept plan.
    pub fn chosen_order(&mut self) -> Order {
        self.solve().0
    }

    fn solve(&mut self) -> &(Order, Vec<usize>, usize) {
        if self.best.is_none() {
            let mut best: Option<(Order, Vec<usize>, usize)> = None;
            for order in Order::ALL {
                let mut g = GreedyPlanner::new(order, self.alignment);
                for b in &self.buffers {
                    g.add_buffer(b.size, b.first_use, b.last_use);
                }
                let size = g.arena_size();
                let better = match &best {
                    Some((_, _, s)) => size < *s,
                    None => true,
                };
                if better {
                    best = Some((order, g.offsets().to_vec(), size));
                }
            }
            self.best = best;
        }
        self.best.get_or_insert((Order::Size, Vec::new(), 0))
    }
}

impl MemoryPlanner for BestOfPlanner {
    fn add_buffer(&mut self, size: usize, first_use: usize, last_use: usize) -> usize {
        self.best = None;
        self.buffers.push(Buffer::new(size, first_use, last_use));
        self.buffers.len() - 1
    }
    fn offset(&mut self, i: usize) -> Option<usize> {
        self.solve().1.get(i).copied()
    }
    fn arena_size(&mut self) -> usize {
        self.solve().2
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_no_overlap;
    use super::*;

    #[test]
    fn reuses_memory_of_dead_buffers() {
        let mut p = GreedyPlanner::new(Order::Size, 4);
        let a = p.add_buffer(100, 0, 1);
        let b = p.add_buffer(50, 1, 2);
        let c = p.add_buffer(100, 2, 3);
        assert_eq!(p.arena_size(), 150);
        assert_eq!(p.offset(a), Some(0));
        assert_eq!(p.offset(c), Some(0));
        assert_eq!(p.offset(b), Some(100));
        assert_no_overlap(&mut p, &[(100, 0, 1), (50, 1, 2), (100, 2, 3)]);
    }

    #[test]
    fn fills_gaps_and_aligns() {
        let mut p = GreedyPlanner::new(Order::Size, 4);
        p.add_buffer(10, 0, 0);
        p.add_buffer(3, 0, 2);
        p.add_buffer(7, 1, 1);
        // 10 at 0; 7 reuses it (aligned), 3 goes at 12 (10 rounded up to 4).
        assert_eq!(p.offset(0), Some(0));
        assert_eq!(p.offset(1), Some(12));
        assert_eq!(p.offset(2), Some(0));
        assert_eq!(p.arena_size(), 15);
    }

    #[test]
    fn best_of_never_worse_than_size_order() {
        let mut seed = 7u64;
        for _ in 0..200 {
            let mut bufs = Vec::new();
            for _ in 0..12 {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let first = (seed >> 33) as usize % 10;
                let len = (seed >> 40) as usize % 4;
                let size = 1 + (seed >> 50) as usize % 300;
                bufs.push((size, first, first + len));
            }
            let mut g = GreedyPlanner::new(Order::Size, 4);
            let mut b = BestOfPlanner::new(4);
            for &(s, f, l) in &bufs {
                g.add_buffer(s, f, l);
                b.add_buffer(s, f, l);
            }
            assert!(b.arena_size() <= g.arena_size());
            assert_no_overlap(&mut b, &bufs);
            for o in Order::ALL {
                let mut p = GreedyPlanner::new(o, 4);
                for &(s, f, l) in &bufs {
                    p.add_buffer(s, f, l);
                }
                assert_no_overlap(&mut p, &bufs);
            }
        }
    }
}
