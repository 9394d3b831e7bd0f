//! Packed int4 weights: the runtime's `_s4` kernels compute exactly what the int8 kernels
//! compute on the unpacked weights, on a whole converted model.
use std::path::PathBuf;

use tinyforge_compress::quantize::{calibrate, convert, packed};
use tinyforge_graph::DType;
use tinyforge_runtime::Runtime;

#[test]
fn int4_model_matches_its_unpacked_int8_twin() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let float =
        tinyforge_tflite::read_file(root.join("testdata/models/pretrainedResnet.tflite")).unwrap();
    let len = float.tensors[float.inputs[0]].elements();
    let raw =
        std::fs::read(root.join("testdata/reference/pretrainedResnet/random_input0.bin")).unwrap();
    let data: Vec<f32> = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let samples: Vec<&[f32]> = data.chunks(len).collect();
    let stats = calibrate::collect(&float, &samples, calibrate::DEFAULT_BINS).unwrap();
    let opts = convert::ConvertOptions {
        default_bits: 4,
        ..Default::default()
    };
    let g4 =
        convert::convert(&float, &stats.ranges(calibrate::Calibration::MinMax), &opts).unwrap();
    let mut g8 = g4.clone();
    let mut packed_bytes = 0;
    for t in &mut g8.tensors {
        if t.dtype == DType::I4 {
            let d = t.data.as_ref().unwrap();
            packed_bytes += d.len();
            let v = packed::unpack_i4(d, t.elements());
            assert!(v.iter().all(|&x| (-7..=7).contains(&x)));
            t.data = Some(v.iter().map(|&x| x as u8).collect());
            t.dtype = DType::I8;
        }
    }
    assert!(packed_bytes > 0);
    // The file round-trips as TFLite INT4.
    let bytes = tinyforge_tflite::write(&g4).unwrap();
    assert_eq!(tinyforge_tflite::read(&bytes).unwrap(), g4);
    let (mut r4, mut r8) = (Runtime::new(g4).unwrap(), Runtime::new(g8).unwrap());
    for s in 0..4u8 {
        let input: Vec<u8> = (0..r4.input_bytes(0))
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(s * 17))
            .collect();
        r4.invoke(&[&input]).unwrap();
        r8.invoke(&[&input]).unwrap();
        assert_eq!(r4.output(0), r8.output(0));
    }
}
