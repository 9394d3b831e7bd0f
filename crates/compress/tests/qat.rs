//! Quantization-aware training on a tiny dense net: the fine-tuned model converts to integer
//! weights that are exactly the fake-quantized weights it was trained with (dense layers at 8
//! bits, per output unit), and its accuracy stays close to the float model's.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tinyforge_compress::prune::finetune::{self, FineTune};
use tinyforge_compress::quantize::{self, eval, PtqOptions, QatOptions};
use tinyforge_data::Dataset;
use tinyforge_graph::{DType, Graph};
use tinyforge_train::layers::{Activation, ActivationLayer, Dense, Layer};
use tinyforge_train::param::fake_quant_per_channel;
use tinyforge_train::{ChannelAxis, Model};

const DIM: usize = 16;
const CLASSES: usize = 4;

/// Gaussian blobs around fixed random centres.
fn blobs(n: usize, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let centres: Vec<f32> = (0..CLASSES * DIM)
        .map(|_| rng.gen_range(-1.0..1.0))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(n * DIM);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % CLASSES;
        y.push(c as u32);
        for d in 0..DIM {
            x.push(centres[c * DIM + d] + rng.gen_range(-0.9..0.9));
        }
    }
    Dataset::classification(x, vec![DIM], y, CLASSES).unwrap()
}

fn float_model(train: &Dataset) -> Graph {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut m = Model::new(&[DIM]);
    m.push(Layer::Dense(Dense::new(DIM, 32, true, &mut rng)))
        .unwrap();
    m.push(Layer::Activation(ActivationLayer {
        activation: Activation::Relu,
    }))
    .unwrap();
    m.push(Layer::Dense(Dense::new(32, CLASSES, true, &mut rng)))
        .unwrap();
    let ft = FineTune {
        epochs: 15,
        lr: 1e-2,
        batch_size: 32,
        ..FineTune::default()
    };
    finetune::train(
        &mut m,
        train,
        &ft,
        0,
        &mut |_, _| Ok(()),
        &mut |_, _| Ok(()),
    )
    .unwrap();
    tinyforge_train::export::export_graph(&m).unwrap()
}

fn rows(ds: &Dataset) -> Vec<&[f32]> {
    ds.features.chunks_exact(ds.sample_len()).collect()
}

#[test]
fn qat_weights_convert_exactly_and_recover_accuracy() {
    let train = blobs(800, 1);
    let test = blobs(400, 2);
    let float = float_model(&train);
    let (xs, labels) = (rows(&test), test.labels().unwrap());
    let calib: Vec<&[f32]> = rows(&train).into_iter().take(200).collect();
    let acc_float = eval::accuracy(&float, &xs, labels).unwrap();
    assert!(acc_float > 0.9, "float accuracy {acc_float}");

    let mut opts = PtqOptions::default();
    opts.convert.default_bits = 8;
    opts.convert.fc_per_channel = true;
    let ptq = quantize::ptq(&float, &calib, &calib, &opts).unwrap();
    let acc_ptq = eval::accuracy(&ptq.graph, &xs, labels).unwrap();

    let q = quantize::qat(
        &float,
        &train,
        Some(&test),
        &QatOptions {
            convert: opts.convert.clone(),
            finetune: FineTune {
                epochs: 4,
                lr: 2e-3,
                batch_size: 32,
                ..FineTune::default()
            },
            cosine: true,
        },
    )
    .unwrap();
    assert_eq!(q.curve.len(), 4);
    let conv = quantize::ptq(&q.graph, &calib, &calib, &opts).unwrap();
    let acc_qat = eval::accuracy(&conv.graph, &xs, labels).unwrap();
    assert!(
        acc_qat >= acc_float - 0.03 && acc_qat + 0.01 >= acc_ptq,
        "float {acc_float}, 8-bit PTQ {acc_ptq}, 8-bit QAT {acc_qat}"
    );

    // Every converted weight is the fake-quantized latent weight the network trained with.
    let mut checked = 0;
    for t in q
        .graph
        .tensors
        .iter()
        .filter(|t| t.is_const() && t.dtype == DType::F32 && t.shape.len() == 2)
    {
        let qt = conv
            .graph
            .tensors
            .iter()
            .find(|u| u.name == t.name && u.dtype == DType::I8)
            .unwrap_or_else(|| panic!("no int8 tensor {}", t.name));
        let w: Vec<f32> = t
            .data
            .as_ref()
            .unwrap()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let mut fq = w.to_vec();
        fake_quant_per_channel(&mut fq, &t.shape, ChannelAxis::Outer, 127.0);
        let scales = &qt.quant.as_ref().unwrap().scale;
        let per = w.len() / t.shape[0];
        let v: Vec<i8> = qt.data.as_ref().unwrap().iter().map(|&b| b as i8).collect();
        for (i, (&qi, &f)) in v.iter().zip(&fq).enumerate() {
            let d = qi as f32 * scales[i / per];
            assert!(
                (d - f).abs() <= 1e-6 * f.abs().max(1.0),
                "{}[{i}]: {d} vs {f}",
                t.name
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 2);
}
