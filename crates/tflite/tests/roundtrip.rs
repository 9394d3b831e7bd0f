//! Every testdata model reads, matches its reference manifest, and survives write → read.

mod common;

use tinyforge_graph::{DType, Op};
use tinyforge_tflite::{read, read_file, write};

#[test]
fn every_model_reads_and_matches_its_manifest() {
    for (name, path) in common::models() {
        let g = read_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                common::repo_root().join(format!("testdata/reference/{name}/manifest.json")),
            )
            .unwrap(),
        )
        .unwrap();
        let ops = manifest["ops"].as_array().unwrap();
        assert_eq!(g.nodes.len(), ops.len(), "{name}: node count");
        for (node, m) in g.nodes.iter().zip(ops) {
            assert_eq!(node.op.name(), m["op"].as_str().unwrap(), "{name}");
            let ins: Vec<i64> = node
                .inputs
                .iter()
                .map(|i| i.map_or(-1, |i| i as i64))
                .collect();
            let m_ins: Vec<i64> = m["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            assert_eq!(ins, m_ins, "{name}: node inputs");
        }
        for (ids, key) in [(&g.inputs, "inputs"), (&g.outputs, "outputs")] {
            let specs = manifest[key].as_array().unwrap();
            assert_eq!(ids.len(), specs.len(), "{name}: {key}");
            for (&id, spec) in ids.iter().zip(specs) {
                let t = &g.tensors[id];
                assert_eq!(t.name, spec["name"].as_str().unwrap(), "{name}");
                let shape: Vec<usize> = spec["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .collect();
                assert_eq!(t.shape, shape, "{name}: {key} shape");
                assert_eq!(t.dtype.name(), spec["dtype"].as_str().unwrap(), "{name}");
                if let Some(q) = &t.quant {
                    assert_eq!(
                        q.scale[0] as f64,
                        spec["scale"].as_f64().unwrap(),
                        "{name}: scale"
                    );
                    assert_eq!(q.zero_point[0], spec["zero_point"].as_i64().unwrap());
                }
            }
        }
    }
}

#[test]
fn every_model_round_trips() {
    for (name, path) in common::models() {
        let g = read_file(&path).unwrap();
        let bytes = write(&g).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = read(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, g, "{name}: read → write → read changed the graph");
        // Writing is deterministic.
        assert_eq!(write(&back).unwrap(), bytes, "{name}");
    }
}

#[test]
fn kws_details_are_mapped() {
    let g = read_file(common::repo_root().join("testdata/models/kws_ref_model.tflite")).unwrap();
    let Op::Conv2d(c) = &g.nodes[0].op else {
        panic!("first op is {:?}", g.nodes[0].op)
    };
    assert_eq!((c.stride_h, c.stride_w), (2, 2));
    let filter = &g.tensors[g.nodes[0].inputs[1].unwrap()];
    assert_eq!(filter.dtype, DType::I8);
    assert_eq!(filter.shape, vec![64, 10, 4, 1]);
    let q = filter.quant.as_ref().unwrap();
    assert!(q.is_per_channel());
    assert_eq!((q.scale.len(), q.axis), (64, 0));
    assert_eq!(filter.data.as_ref().unwrap().len(), 64 * 10 * 4);
    let dw = g
        .nodes
        .iter()
        .find(|n| matches!(n.op, Op::DepthwiseConv2d(_)))
        .unwrap();
    let dw_filter = &g.tensors[dw.inputs[1].unwrap()];
    assert_eq!(dw_filter.quant.as_ref().unwrap().axis, 3);
    assert!(matches!(g.nodes.last().unwrap().op, Op::Softmax { beta } if beta == 1.0));
}

#[test]
fn read_file_names_the_file() {
    let e = read_file("/nonexistent/model.tflite").unwrap_err();
    assert!(e.to_string().contains("/nonexistent/model.tflite"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("junk.tflite");
    std::fs::write(&p, b"definitely not a flatbuffer").unwrap();
    let e = read_file(&p).unwrap_err().to_string();
    assert!(e.contains("junk.tflite") && e.contains("flatbuffer"), "{e}");
}

/// The TFLite-Micro-only form keeps everything a runtime executes: read back, the graph
/// computes the same (same ops, shapes, types, data, scales and zero points), and only names of
/// inner tensors and the implied bias parameters of per-channel convolutions are gone.
#[test]
fn compact_files_keep_what_runs_and_are_smaller() {
    let compact = tinyforge_tflite::WriteOptions {
        tflm_only: true,
        ..Default::default()
    };
    for name in [
        "pretrainedResnet_quant",
        "kws_ref_model",
        "ad01_int8",
        "vww_96_int8",
    ] {
        let path = common::repo_root().join(format!("testdata/models/{name}.tflite"));
        let g = read_file(&path).unwrap();
        let full = write(&g).unwrap();
        let small = tinyforge_tflite::write_with(&g, &compact).unwrap();
        assert!(
            small.len() < full.len(),
            "{name}: {} vs {}",
            small.len(),
            full.len()
        );
        let back = read(&small).unwrap();
        assert_eq!(back.nodes, g.nodes, "{name}");
        assert_eq!((&back.inputs, &back.outputs), (&g.inputs, &g.outputs));
        for (i, (a, b)) in back.tensors.iter().zip(&g.tensors).enumerate() {
            assert_eq!(
                (&a.shape, a.dtype, &a.data),
                (&b.shape, b.dtype, &b.data),
                "{name} {i}"
            );
            let io = g.inputs.contains(&i) || g.outputs.contains(&i);
            assert_eq!(a.name, if io { b.name.clone() } else { String::new() });
            match (&a.quant, &b.quant) {
                (Some(x), Some(y)) => assert_eq!(x, y, "{name} tensor {i}"),
                (None, Some(_)) => assert_eq!(b.dtype, DType::I32, "{name} tensor {i}"),
                (x, y) => assert_eq!(x, y, "{name} tensor {i}"),
            }
        }
        eprintln!("{name}: {} -> {} bytes", full.len(), small.len());
    }
}

/// Tensors nothing uses are left out of a compact file, and equal constants share a buffer.
#[test]
fn compact_files_drop_unused_tensors_and_share_buffers() {
    let path = common::repo_root().join("testdata/models/ad01_int8.tflite");
    let mut g = read_file(&path).unwrap();
    let n = g.tensors.len();
    let mut orphan = g.tensors[1].clone();
    orphan.name = "orphan".into();
    g.tensors.push(orphan);
    let plain = write(&g).unwrap();
    let compact = tinyforge_tflite::WriteOptions {
        compact: true,
        ..Default::default()
    };
    let back = read(&tinyforge_tflite::write_with(&g, &compact).unwrap()).unwrap();
    assert_eq!(back.tensors.len(), n);
    // The duplicate constant costs no second buffer even when kept.
    let with_dup = read(&plain).unwrap();
    assert_eq!(with_dup.tensors[n].data, g.tensors[1].data);
    g.tensors.pop();
    let without = write(&g).unwrap();
    assert!(
        plain.len() < without.len() + 200,
        "{} vs {}",
        plain.len(),
        without.len()
    );
}
