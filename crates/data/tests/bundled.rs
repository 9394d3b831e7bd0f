//! The datasets shipped in the repository load with the expected sizes and label histograms.

use std::path::PathBuf;
use std::time::Instant;

use tinyforge_data::csv::{load_csv, ColumnRef, CsvOptions};
use tinyforge_data::{
    detect_kind, load, load_splits, BatchBuffer, BatchConfig, Batcher, DataKind, DataSpec,
    NormalizeMode, SplitSpec, Stats,
};

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(p)
}

#[test]
fn mnist_bundled_test_set() {
    let t = Instant::now();
    let ds = load(&DataSpec::from_path(repo("data/mnist"))).unwrap();
    let secs = t.elapsed().as_secs_f64();
    eprintln!("MNIST load: {secs:.3} s");
    // The release bar is 0.5 s; tests run at opt-level 2 on a shared machine, so allow slack.
    assert!(secs < 2.0, "{secs}");
    assert_eq!(ds.len(), 10_000);
    assert_eq!(ds.sample_shape, vec![28, 28, 1]);
    assert_eq!(ds.num_classes, 10);
    // The MNIST test-set label histogram is well known.
    assert_eq!(
        ds.class_counts(),
        vec![980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    let s = Stats::of(&ds);
    assert_eq!((s.min, s.max), (0.0, 1.0));
    assert!((s.mean - 0.1325).abs() < 0.001, "{}", s.mean);
    assert!((s.std - 0.3105).abs() < 0.001, "{}", s.std);
    // First test image is a 7.
    assert_eq!(ds.labels().unwrap()[0], 7);
}

#[test]
fn mnist_default_recipe() {
    let spec = DataSpec {
        split: Some(SplitSpec::mnist_default()),
        ..DataSpec::from_path(repo("data/mnist"))
    };
    let (parts, norm) = load_splits(&spec).unwrap();
    assert!(norm.is_none());
    assert_eq!(parts.train.len(), 8000);
    let test = parts.test.unwrap();
    assert_eq!(test.len(), 2000);
    let full = load(&DataSpec::from_path(repo("data/mnist"))).unwrap();
    assert_eq!(test.sample(0), full.sample(8000));

    let mut b = Batcher::new(
        &parts.train,
        BatchConfig {
            batch_size: 64,
            drop_last: true,
            seed: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let mut buf = BatchBuffer::new(&parts.train, 64);
    let mut n = 0;
    while b.next_batch(&mut buf).unwrap() {
        n += 1;
    }
    assert_eq!(n, 125);
}

#[test]
fn digits_csv() {
    let path = repo("data/digits/digits.csv");
    assert_eq!(detect_kind(&path).unwrap(), DataKind::Csv);
    let ds = load_csv(
        &path,
        &CsvOptions {
            label: Some(ColumnRef::Name("label".into())),
            sample_shape: Some(vec![8, 8, 1]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(ds.len(), 1797);
    assert_eq!(ds.sample_shape, vec![8, 8, 1]);
    assert_eq!(ds.num_classes, 10);
    assert_eq!(
        ds.class_counts(),
        vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    );
    let s = Stats::of(&ds);
    assert_eq!((s.min, s.max), (0.0, 16.0));

    // The same through a TOML config, with a stratified split and normalisation.
    let cfg = format!(
        r#"
        path = {:?}
        normalize = "global"
        csv = {{ sample_shape = [8, 8, 1] }}
        split = {{ by = "fractions", test = 0.2, seed = 5, stratified = true }}
        "#,
        path.to_string_lossy()
    );
    let spec: DataSpec = toml::from_str(&cfg).unwrap();
    assert_eq!(spec.normalize, NormalizeMode::Global);
    let (parts, norm) = load_splits(&spec).unwrap();
    assert!(norm.is_some());
    let test = parts.test.unwrap();
    assert_eq!(test.len() + parts.train.len(), 1797);
    assert!((test.len() as i64 - 359).abs() <= 5, "{}", test.len());
    let st = Stats::of(&parts.train);
    assert!(st.mean.abs() < 1e-4 && (st.std - 1.0).abs() < 1e-4);
}

#[test]
fn reference_input_tensors_as_calibration_data() {
    use tinyforge_data::{RawDtype, RawOptions};
    // The fp32 and int8 AD inputs are the same data; dequantised int8 must track the floats.
    let f = tinyforge_data::raw::load_raw(
        &repo("testdata/reference/ad01_fp32/real_input0.bin"),
        &RawOptions {
            sample_shape: vec![640],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(f.len(), 8);
    let both = tinyforge_data::raw::load_raw(
        &repo("testdata/reference/ad01_fp32"),
        &RawOptions {
            sample_shape: vec![640],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(both.len(), 16); // random + real inputs, outputs skipped
    let q = tinyforge_data::raw::load_raw(
        &repo("testdata/reference/ad01_int8/real_input0.bin"),
        &RawOptions {
            dtype: RawDtype::I8,
            sample_shape: vec![640],
            scale: Some(0.391_015_23),
            zero_point: 89, // from the reference manifest
        },
    )
    .unwrap();
    assert_eq!(q.len(), 8);
    let max_err = f
        .features
        .iter()
        .zip(&q.features)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("int8 vs fp32 AD input: max |err| = {max_err}");
    assert!(max_err <= 0.391 * 0.5 + 1e-3, "{max_err}");
}
