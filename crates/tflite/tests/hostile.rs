//! Hostile files: mutated copies of the testdata models must make `read` return `Ok` or `Err`,
//! never panic, abort or allocate without bound. 4 × 2,500 = 10,000 mutants per run.
//!
//! Mutations: bit flips, byte overwrites, u32 overwrites with extreme values (offsets, lengths,
//! counts), dimension overwrites at the actual shape vectors, truncation, and splices of one
//! region over another. Whenever a mutant still reads, the result must also be writable and
//! read back unchanged, and its size must stay within the bound the reader promises.

mod common;

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::Index;
use tinyforge_graph::Graph;
use tinyforge_tflite::{read, write};

struct Model {
    bytes: Vec<u8>,
    /// Byte offsets of the dimensions of every tensor shape vector.
    dim_offsets: Vec<usize>,
}

fn models() -> &'static [Model] {
    static MODELS: OnceLock<Vec<Model>> = OnceLock::new();
    MODELS.get_or_init(|| {
        common::models()
            .into_iter()
            .map(|(_, path)| {
                let bytes = std::fs::read(&path).unwrap();
                let g = read(&bytes).unwrap();
                Model {
                    dim_offsets: dim_offsets(&bytes, &g),
                    bytes,
                }
            })
            .collect()
    })
}

/// Where shape vectors (a u32 length followed by i32 dims) sit in the file. Only patterns that
/// occur once are taken (a short one like `[1]` also matches unrelated bytes).
fn dim_offsets(bytes: &[u8], g: &Graph) -> Vec<usize> {
    let mut out = Vec::new();
    for t in &g.tensors {
        if t.shape.len() < 2 {
            continue;
        }
        let mut pattern = (t.shape.len() as u32).to_le_bytes().to_vec();
        for &d in &t.shape {
            pattern.extend_from_slice(&(d as i32).to_le_bytes());
        }
        let mut hits = bytes
            .windows(pattern.len())
            .enumerate()
            .filter(|(_, w)| *w == pattern)
            .map(|(p, _)| p);
        if let (Some(p), None) = (hits.next(), hits.next()) {
            out.extend((0..t.shape.len()).map(|k| p + 4 + 4 * k));
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

const EXTREME: &[u32] = &[
    0,
    1,
    2,
    3,
    0x7f,
    0x80,
    0xff,
    0x7fff,
    0xffff,
    0x10000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
    1 << 20,
    1 << 24,
];

#[derive(Debug, Clone)]
enum Mutation {
    BitFlip(Index, u8),
    Byte(Index, u8),
    Word(Index, u32),
    Dim(Index, i32),
    Truncate(Index),
    Splice(Index, Index, u16),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::BitFlip(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::Byte(i, v)),
        (
            any::<Index>(),
            prop_oneof![prop::sample::select(EXTREME), any::<u32>()]
        )
            .prop_map(|(i, v)| Mutation::Word(i, v)),
        (
            any::<Index>(),
            prop_oneof![
                prop::sample::select(vec![0, -1, -2, i32::MIN, i32::MAX, 1 << 16, 1 << 24, 65535]),
                any::<i32>()
            ]
        )
            .prop_map(|(i, v)| Mutation::Dim(i, v)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), any::<Index>(), 1u16..512).prop_map(|(a, b, n)| Mutation::Splice(a, b, n)),
    ]
}

fn apply(model: &Model, muts: &[Mutation]) -> Vec<u8> {
    let mut b = model.bytes.clone();
    for m in muts {
        if b.is_empty() {
            break;
        }
        let len = b.len();
        match m {
            Mutation::BitFlip(i, bit) => b[i.index(len)] ^= 1 << bit,
            Mutation::Byte(i, v) => b[i.index(len)] = *v,
            Mutation::Word(i, v) => {
                // Offsets and lengths are 4-byte aligned in flatbuffers.
                let p = i.index(len) & !3;
                if p + 4 <= len {
                    b[p..p + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
            Mutation::Dim(i, v) => {
                if !model.dim_offsets.is_empty() {
                    let p = model.dim_offsets[i.index(model.dim_offsets.len())];
                    if p + 4 <= len {
                        b[p..p + 4].copy_from_slice(&v.to_le_bytes());
                    }
                }
            }
            Mutation::Truncate(i) => b.truncate(i.index(len)),
            Mutation::Splice(from, to, n) => {
                let (from, to) = (from.index(len), to.index(len));
                let n = (*n as usize).min(len - from).min(len - to);
                b.copy_within(from..from + n, to);
            }
        }
    }
    b
}

/// Reads a mutant; if it reads, it must write and read back unchanged, within the size bound.
fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok(g) = read(bytes) else {
        return Ok(());
    };
    let held: usize = g
        .tensors
        .iter()
        .map(|t| t.data.as_ref().map_or(0, Vec::len) + t.name.len() + 8 * t.shape.len())
        .sum();
    prop_assert!(
        held <= 16 * bytes.len() + (1 << 20),
        "a {}-byte file produced {held} bytes of graph",
        bytes.len()
    );
    let written =
        write(&g).map_err(|e| TestCaseError::fail(format!("read ok, write failed: {e}")))?;
    let back = read(&written).map_err(|e| TestCaseError::fail(format!("re-read failed: {e}")))?;
    prop_assert_eq!(back, g);
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2_500,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn single_mutations_never_panic(m in any::<Index>(), mu in mutation()) {
        let model = &models()[m.index(models().len())];
        check(&apply(model, &[mu]))?;
    }

    #[test]
    fn mutation_bursts_never_panic(m in any::<Index>(), muts in prop::collection::vec(mutation(), 2..8)) {
        let model = &models()[m.index(models().len())];
        check(&apply(model, &muts))?;
    }

    #[test]
    fn extreme_words_never_panic(
        m in any::<Index>(),
        words in prop::collection::vec((any::<Index>(), prop::sample::select(EXTREME)), 1..4),
    ) {
        let model = &models()[m.index(models().len())];
        let muts: Vec<_> = words.into_iter().map(|(i, v)| Mutation::Word(i, v)).collect();
        check(&apply(model, &muts))?;
    }

    #[test]
    fn huge_dimensions_never_panic(
        m in any::<Index>(),
        dims in prop::collection::vec((any::<Index>(), any::<i32>()), 1..4),
    ) {
        let model = &models()[m.index(models().len())];
        let muts: Vec<_> = dims.into_iter().map(|(i, v)| Mutation::Dim(i, v)).collect();
        check(&apply(model, &muts))?;
    }
}

#[test]
fn mutants_reach_the_validation_layers() {
    // Guard against a strategy that only ever trips the verifier: some dimension overwrites
    // must get through it and be rejected by tensor validation, and some must still read.
    let model = models().iter().find(|m| !m.dim_offsets.is_empty()).unwrap();
    let p = model.dim_offsets[0];
    let mut b = model.bytes.clone();
    b[p..p + 4].copy_from_slice(&0x7fff_ffffi32.to_le_bytes());
    let e = read(&b).unwrap_err().to_string();
    assert!(e.contains("tensor"), "{e}");
    b[p..p + 4].copy_from_slice(&(-1i32).to_le_bytes());
    let e = read(&b).unwrap_err().to_string();
    assert!(e.contains("non-positive"), "{e}");
}
