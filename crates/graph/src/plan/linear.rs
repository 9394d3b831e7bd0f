//! The trivial planner: every buffer after the previous one, nothing shared.
//!
//! Its arena is the sum of all (aligned) buffer sizes, an upper bound for any other planner;
//! tests use it as a reference and runtime tests use it to catch lifetime bugs (with no
//! sharing, a wrong lifetime cannot corrupt data).
use super::{align_up, Buffer, MemoryPlanner};

#[derive(Debug, Clone, Default)]
pub struct LinearPlanner {
    alignment: usize,
    buffers: Vec<Buffer>,
    offsets: Vec<usize>,
    end: usize,
}

impl LinearPlanner {
    pub fn new(alignment: usize) -> Self {
        LinearPlanner {
            alignment: alignment.max(1),
            ..Self::default()
        }
    }
}

impl MemoryPlanner for LinearPlanner {
    fn add_buffer(&mut self, size: usize, first_use: usize, last_use: usize) -> usize {
        let off = align_up(self.end, self.alignment);
        self.offsets.push(off);
        self.end = off.saturating_add(size);
        self.buffers.push(Buffer::new(size, first_use, last_use));
        self.buffers.len() - 1
    }
    fn offset(&mut self, i: usize) -> Option<usize> {
        self.offsets.get(i).copied()
    }
    fn arena_size(&mut self) -> usize {
        self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stacks_buffers() {
        let mut p = LinearPlanner::new(4);
        p.add_buffer(5, 0, 0);
        p.add_buffer(8, 1, 1);
        p.add_buffer(1, 2, 2);
        assert_eq!(p.offset(0), Some(0));
        assert_eq!(p.offset(1), Some(8));
        assert_eq!(p.offset(2), Some(16));
        assert_eq!(p.offset(3), None);
        assert_eq!(p.arena_size(), 17);
    }
}
