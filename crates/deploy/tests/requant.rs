//! The C kernels' requantization (portable path, built for the host) against the reference
//! fixed-point arithmetic: the kernels round with one saturating add where TFLite Micro masks
//! and compares, which must give the same int8 for every accumulator, multiplier, shift,
//! output offset and activation range.
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use tinyforge_kernels::fixedpoint::{multiply_by_quantized_multiplier, quantize_multiplier};

const MAIN: &str = r#"
#include "tf_kernels.h"
#include <stdio.h>
/* records: mult, shift, out_offset, act_min, act_max, then N accumulators (int32 LE) */
#define N 64
int main(void)
{
    int32_t head[5], acc[N];
    int8_t out[N];
    while (fread(head, sizeof head, 1, stdin) == 1) {
        if (fread(acc, sizeof acc, 1, stdin) != 1) return 2;
        tf_requantize_s8(acc, N, out, head[0], head[1], head[2], head[3], head[4]);
        fwrite(out, 1, N, stdout);
    }
    return 0;
}
"#;
const N: usize = 64;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 32) as u32
    }
}

fn build(dir: &Path) -> std::path::PathBuf {
    let c = Path::new(env!("CARGO_MANIFEST_DIR")).join("c");
    let main = dir.join("main.c");
    std::fs::write(&main, MAIN).unwrap();
    let exe = dir.join("requant");
    let out = Command::new("cc")
        .args(["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(&c)
        .arg(c.join("tf_kernels.c"))
        .arg(&main)
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("host C compiler `cc`");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

#[test]
fn requantization_matches_the_reference_for_every_shift_and_edge_accumulator() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build(dir.path());
    let mut rng = Lcg(7);
    let mut records: Vec<([i32; 5], Vec<i32>)> = Vec::new();
    let edges = [
        i32::MIN,
        i32::MIN + 1,
        i32::MAX,
        i32::MAX - 1,
        0,
        1,
        -1,
        1 << 30,
        -(1 << 30),
    ];
    for shift in -31..=10 {
        let mut mults = vec![1 << 30, i32::MAX, (1 << 30) + 1, i32::MIN, 1, 0];
        for _ in 0..4 {
            // multipliers the converter produces for scale ratios around 2^shift
            let real = (1.0 + rng.next() as f64 / u32::MAX as f64) * 2f64.powi(shift - 1);
            mults.push(quantize_multiplier(real).0);
        }
        for &mult in &mults {
            for &(off, lo, hi) in &[
                (0, -128, 127),
                (-128, -128, 127),
                (5, 5, 127),
                (127, -3, 100),
            ] {
                let mut acc: Vec<i32> = edges.to_vec();
                while acc.len() < N {
                    let r = rng.next();
                    // full range, small values (rounding ties), values near the shift's edge
                    acc.push(match acc.len() % 3 {
                        0 => r as i32,
                        1 => (r % 4001) as i32 - 2000,
                        _ => ((r as i32) >> (r % 31)) ^ (1 << (r % 31)),
                    });
                }
                records.push(([mult, shift, off, lo, hi], acc));
            }
        }
    }
    let mut input = Vec::new();
    for (h, acc) in &records {
        for v in h.iter().chain(acc) {
            input.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut child = Command::new(&exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), records.len() * N);
    let mut checked = 0;
    for (r, ([mult, shift, off, lo, hi], acc)) in records.iter().enumerate() {
        for (i, &a) in acc.iter().enumerate() {
            // int32 like the reference; an offset add that would overflow is undefined there
            let Some(v) = multiply_by_quantized_multiplier(a, *mult, *shift).checked_add(*off)
            else {
                continue;
            };
            let want = v.clamp(*lo, *hi) as i8;
            let got = out.stdout[r * N + i] as i8;
            assert_eq!(
                got, want,
                "acc {a} mult {mult} shift {shift} offset {off} range {lo}..={hi}"
            );
            checked += 1;
        }
    }
    assert!(checked > 40_000, "{checked}");
}
