//! `DataSpec` from TOML and path auto-detection across every loader, on tiny fixtures.

use std::io::Write;
use std::path::Path;

use tinyforge_data::{
    detect_kind, load, load_splits, AudioFeature, DataError, DataKind, DataSpec, Targets,
};

fn write_wav(path: &Path, rate: u32, n: usize) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..n {
        w.write_sample(((i as f32 * 0.3).sin() * 8000.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

fn write_mnist(dir: &Path, n: usize) {
    let mut img = vec![0u8, 0, 8, 3];
    for d in [n as u32, 28, 28] {
        img.extend_from_slice(&d.to_be_bytes());
    }
    img.extend((0..n * 784).map(|k| (k % 251) as u8));
    let mut lab = vec![0u8, 0, 8, 1];
    lab.extend_from_slice(&(n as u32).to_be_bytes());
    lab.extend((0..n).map(|i| (i % 10) as u8));
    for (name, bytes) in [
        ("t10k-images-idx3-ubyte.gz", img),
        ("t10k-labels-idx1-ubyte.gz", lab),
    ] {
        let f = std::fs::File::create(dir.join(name)).unwrap();
        let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        e.write_all(&bytes).unwrap();
        e.finish().unwrap();
    }
}

#[test]
fn detects_every_kind() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();

    let mnist = r.join("mnist");
    std::fs::create_dir(&mnist).unwrap();
    std::fs::write(mnist.join("README.md"), "x").unwrap();
    write_mnist(&mnist, 20);
    assert_eq!(detect_kind(&mnist).unwrap(), DataKind::Mnist);
    let d = load(&DataSpec::from_path(&mnist)).unwrap();
    assert_eq!((d.len(), d.sample_shape.clone()), (20, vec![28, 28, 1]));

    let csv = r.join("t.csv");
    std::fs::write(&csv, "a,b,label\n1,2,0\n3,4,1\n").unwrap();
    assert_eq!(detect_kind(&csv).unwrap(), DataKind::Csv);

    let wav = r.join("speech");
    for c in ["no", "yes"] {
        std::fs::create_dir_all(wav.join(c)).unwrap();
        write_wav(&wav.join(c).join("0.wav"), 16_000, 16_000);
    }
    std::fs::write(wav.join("LICENSE"), "x").unwrap();
    assert_eq!(detect_kind(&wav).unwrap(), DataKind::Wav);
    let d = load(&DataSpec::from_path(&wav)).unwrap();
    assert_eq!(d.sample_shape, vec![49, 10, 1]);
    assert_eq!(d.class_names, vec!["no", "yes"]);

    let imgs = r.join("imgs");
    for c in ["a", "b", "c"] {
        std::fs::create_dir_all(imgs.join(c)).unwrap();
        image::GrayImage::from_pixel(6, 6, image::Luma([200]))
            .save(imgs.join(c).join("x.png"))
            .unwrap();
    }
    assert_eq!(detect_kind(&imgs).unwrap(), DataKind::Images);
    let d = load(&DataSpec::from_path(&imgs)).unwrap();
    assert_eq!(d.sample_shape, vec![6, 6, 3]);
    assert_eq!(d.num_classes, 3);

    let raw = r.join("calib");
    std::fs::create_dir(&raw).unwrap();
    std::fs::write(raw.join("x_input0.bin"), [0u8; 32]).unwrap();
    assert_eq!(detect_kind(&raw).unwrap(), DataKind::Raw);
    assert_eq!(
        detect_kind(&raw.join("x_input0.bin")).unwrap(),
        DataKind::Raw
    );

    let empty = r.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = detect_kind(&empty).unwrap_err();
    assert!(matches!(err, DataError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("empty"), "{err}");
    let err = load(&DataSpec::from_path(r.join("missing"))).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn full_config_from_toml() {
    let root = tempfile::tempdir().unwrap();
    let wav = root.path().join("kws");
    for (c, n) in [("go", 4), ("stop", 6)] {
        std::fs::create_dir_all(wav.join(c)).unwrap();
        for i in 0..n {
            write_wav(&wav.join(c).join(format!("{i}.wav")), 8_000, 7_000);
        }
    }
    let cfg = format!(
        r#"
        [data]
        kind = "wav"
        path = {:?}
        normalize = "per_channel"
        wav = {{ sample_rate = 8000, clip_samples = 8000, feature = "log_mel", frame_length = 256, frame_step = 128, n_mels = 20, f_max = 4000.0 }}
        split = {{ by = "fractions", val = 0.2, test = 0.2, seed = 9, stratified = true }}
        "#,
        wav.to_string_lossy()
    );
    #[derive(serde::Deserialize)]
    struct Model {
        data: DataSpec,
    }
    let m: Model = toml::from_str(&cfg).unwrap();
    assert_eq!(m.data.wav.feature, AudioFeature::LogMel);
    let (parts, norm) = load_splits(&m.data).unwrap();
    assert_eq!(parts.train.sample_shape, vec![61, 20, 1]);
    assert_eq!(parts.train.class_counts(), vec![2, 4]);
    assert_eq!(parts.val.as_ref().unwrap().class_counts(), vec![1, 1]);
    assert_eq!(parts.test.as_ref().unwrap().class_counts(), vec![1, 1]);
    assert_eq!(norm.unwrap().mean.len(), 1); // one channel

    // Wrong rate in the config → the first file is named.
    let bad = cfg.replace("sample_rate = 8000", "sample_rate = 16000");
    let m: Model = toml::from_str(&bad).unwrap();
    let err = load(&m.data).unwrap_err().to_string();
    assert!(
        err.contains(".wav") && err.contains("expected 16000 Hz"),
        "{err}"
    );

    // Unknown keys are rejected rather than silently ignored.
    assert!(toml::from_str::<Model>("[data]\npath = \"x\"\nsplitt = 1").is_err());

    // Raw calibration tensors.
    let raw = root.path().join("calib.bin");
    let vals: Vec<u8> = (0..8).flat_map(|v| (v as f32).to_le_bytes()).collect();
    std::fs::write(&raw, vals).unwrap();
    let spec: DataSpec = toml::from_str(&format!(
        "path = {:?}\nraw = {{ sample_shape = [2, 2] }}",
        raw.to_string_lossy()
    ))
    .unwrap();
    let d = load(&spec).unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d.targets, Targets::None);
}
