//! Packed int2 and int4 weights: a model whose conv, depthwise and fully-connected filters are
//! stored packed (`DType::I2` / `DType::I4`) runs through the packed kernels and must give
//! exactly what the int8 kernels give on the same weights unpacked, byte for byte.
use std::path::PathBuf;

use tinyforge_graph::{DType, Graph, Op};
use tinyforge_runtime::Runtime;

/// Packs int8 values already in the range of `dtype` (TFLite INT4 / tinyforge INT2 layouts).
fn pack(v: &[i8], dtype: DType) -> Vec<u8> {
    let per = match dtype {
        DType::I4 => 2,
        _ => 4,
    };
    let bits = 8 / per;
    let mask = (1u8 << bits) - 1;
    let mut out = vec![0u8; dtype.bytes_for(v.len())];
    for (i, &x) in v.iter().enumerate() {
        out[i / per] |= ((x as u8) & mask) << (bits * (i % per));
    }
    out
}

/// The int8 KWS model with every weighted layer's filter squeezed into `dtype`'s range: the
/// int8 twin (unpacked) and the packed model.
fn twins(dtype: DType) -> (Graph, Graph) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/models/kws_ref_model.tflite");
    let mut g8 = tinyforge_tflite::read_file(path).unwrap();
    let shift = match dtype {
        DType::I4 => 4,
        _ => 6,
    };
    let mut packed = g8.clone();
    let mut layers = 0;
    for node in &g8.nodes.clone() {
        if !matches!(
            node.op,
            Op::Conv2d(_) | Op::DepthwiseConv2d(_) | Op::FullyConnected(_)
        ) {
            continue;
        }
        let f = node.inputs[1].unwrap();
        let t = &mut g8.tensors[f];
        assert_eq!(t.dtype, DType::I8);
        // An arithmetic shift keeps the sign and spreads values over the whole narrow range.
        let v: Vec<i8> = t
            .data
            .as_ref()
            .unwrap()
            .iter()
            .map(|&b| (b as i8) >> shift)
            .collect();
        t.data = Some(v.iter().map(|&x| x as u8).collect());
        packed.tensors[f].dtype = dtype;
        packed.tensors[f].data = Some(pack(&v, dtype));
        layers += 1;
    }
    assert!(layers >= 3, "conv, depthwise and fully connected layers");
    (g8, packed)
}

fn assert_bit_exact(dtype: DType) {
    let (g8, gp) = twins(dtype);
    // The file keeps the packed type.
    let bytes = tinyforge_tflite::write(&gp).unwrap();
    assert_eq!(tinyforge_tflite::read(&bytes).unwrap(), gp);
    let (mut r8, mut rp) = (Runtime::new(g8).unwrap(), Runtime::new(gp).unwrap());
    for s in 0..3u8 {
        let input: Vec<u8> = (0..r8.input_bytes(0))
            .map(|i| (i as u8).wrapping_mul(37).wrapping_add(s * 29))
            .collect();
        r8.invoke(&[&input]).unwrap();
        rp.invoke(&[&input]).unwrap();
        assert_eq!(r8.output(0), rp.output(0), "{} sample {s}", dtype.name());
    }
}

#[test]
fn int2_model_matches_its_unpacked_int8_twin() {
    assert_bit_exact(DType::I2);
}

#[test]
fn int4_model_matches_its_unpacked_int8_twin() {
    assert_bit_exact(DType::I4);
}

#[test]
fn int2_filter_of_wrong_length_is_an_error() {
    let (_, mut gp) = twins(DType::I2);
    let f = gp
        .nodes
        .iter()
        .find(|n| matches!(n.op, Op::Conv2d(_)))
        .unwrap()
        .inputs[1]
        .unwrap();
    gp.tensors[f].data.as_mut().unwrap().push(0);
    let err = Runtime::new(gp).unwrap_err().to_string();
    assert!(err.contains("bytes"), "{err}");
}
