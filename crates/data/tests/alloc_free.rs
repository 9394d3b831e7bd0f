//! Batching allocates nothing per step: the training loop's hot path stays allocation-free.
//!
//! This binary links a counting global allocator (dev-dependency only); counts are per thread.

use tinyforge_data::{Augment, BatchBuffer, BatchConfig, Batcher, Dataset, Sampling};

fn images(n: usize) -> Dataset {
    let f = (0..n * 64).map(|v| (v % 17) as f32).collect();
    let l = (0..n).map(|i| (i % 3) as u32).collect();
    Dataset::classification(f, vec![8, 8, 1], l, 3).unwrap()
}

#[test]
fn steps_and_epoch_changes_do_not_allocate() {
    let ds = images(100);
    for sampling in [Sampling::Sequential, Sampling::Shuffle, Sampling::Balanced] {
        let cfg = BatchConfig {
            batch_size: 16,
            sampling,
            seed: 3,
            augment: Augment {
                shift: 2,
                noise_std: 0.1,
            },
            ..Default::default()
        };
        let mut b = Batcher::new(&ds, cfg).unwrap();
        let mut buf = BatchBuffer::new(&ds, 16);
        let mut steps = 0;
        let info = allocation_counter::measure(|| {
            for epoch in 0..3 {
                b.set_epoch(epoch);
                while b.next_batch(&mut buf).unwrap() {
                    steps += 1;
                }
            }
        });
        assert_eq!(steps, 21);
        assert_eq!(info.count_total, 0, "{info:?}");
    }

    // Value targets through caller-owned slices.
    let ae = images(10).into_autoencoder();
    let mut b = Batcher::new(
        &ae,
        BatchConfig {
            batch_size: 4,
            ..Default::default()
        },
    )
    .unwrap();
    let mut x = vec![0.0; 4 * 64];
    let mut y = vec![0.0; 4 * 64];
    let info = allocation_counter::measure(|| {
        while b.next_into(&mut x, &mut [], &mut y).unwrap().is_some() {}
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}
