//! `tinyforge run`: batch inference over raw tensor files.
//!
//! Each `--input` file holds N samples of one model input back to back (raw little-endian, the
//! model's dtype); N comes from the file size and must be the same for every input. Each
//! `--output` file receives N samples of one model output, in the graph's output order.
use std::path::PathBuf;

use anyhow::{bail, Context};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model (.tflite).
    pub model: PathBuf,
    /// One raw input file per model input, in order.
    #[arg(long = "input", required = true)]
    pub inputs: Vec<PathBuf>,
    /// One raw output file per model output, in order.
    #[arg(long = "output", required = true)]
    pub outputs: Vec<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut rt = super::load_runtime(&args.model)?;
    let model = args.model.display();
    if args.inputs.len() != rt.input_count() {
        bail!(
            "{model}: the model has {} input(s), {} --input file(s) given",
            rt.input_count(),
            args.inputs.len()
        );
    }
    if args.outputs.len() != rt.output_count() {
        bail!(
            "{model}: the model has {} output(s), {} --output file(s) given",
            rt.output_count(),
            args.outputs.len()
        );
    }
    let mut data = Vec::with_capacity(args.inputs.len());
    let mut samples: Option<(usize, &PathBuf)> = None;
    for (i, path) in args.inputs.iter().enumerate() {
        let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
        let one = rt.input_bytes(i);
        let info = rt.input_info(i);
        if one == 0 || bytes.is_empty() || !bytes.len().is_multiple_of(one) {
            bail!(
                "{}: {} bytes is not a whole number of samples of input {i} ({} {:?} = {one} bytes each)",
                path.display(),
                bytes.len(),
                info.dtype.name(),
                info.shape
            );
        }
        let n = bytes.len() / one;
        match samples {
            Some((m, first)) if m != n => bail!(
                "{}: holds {n} samples but {} holds {m}",
                path.display(),
                first.display()
            ),
            _ => samples = Some((n, path)),
        }
        data.push(bytes);
    }
    let n = samples.map_or(0, |(n, _)| n);
    let mut outs: Vec<Vec<u8>> = (0..rt.output_count())
        .map(|o| Vec::with_capacity(n * rt.output_bytes(o)))
        .collect();
    for s in 0..n {
        let sample: Vec<&[u8]> = data
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let one = rt.input_bytes(i);
                &d[s * one..(s + 1) * one]
            })
            .collect();
        rt.invoke(&sample)
            .with_context(|| format!("{model}: inference on sample {s}"))?;
        for (o, buf) in outs.iter_mut().enumerate() {
            buf.extend_from_slice(rt.output(o));
        }
    }
    for (path, bytes) in args.outputs.iter().zip(&outs) {
        std::fs::write(path, bytes).with_context(|| format!("{}: cannot write", path.display()))?;
    }
    Ok(())
}
