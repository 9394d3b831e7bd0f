//! `tinyforge inspect`: what a model costs and whether it fits a device.
//!
//! Per-layer table (op, input and output shapes, options, MACs, weight and activation bytes),
//! totals, the planned peak SRAM (the arena the runtime allocates, after fusion and in-place
//! aliasing), the flash estimate (weights + tables + runtime code, from the fit model) and, with
//! `--target`, the fit verdict with margins. `--json` prints one JSON object with the same facts.
use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;
use tinyforge_graph::fit::{fit, FitOptions};
use tinyforge_graph::{graph_cost, plan_default, Device, Graph, Op};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model (.tflite).
    pub model: PathBuf,
    /// A device to check the fit against: a built-in name or a profile TOML file.
    #[arg(long)]
    pub target: Option<String>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
}

fn shape(g: &Graph, id: Option<usize>) -> String {
    id.and_then(|i| g.tensors.get(i))
        .map(|t| {
            let dims: Vec<String> = t.shape.iter().map(usize::to_string).collect();
            dims.join("×")
        })
        .unwrap_or_else(|| "-".into())
}

/// A short description of an op's options.
fn options(op: &Op) -> String {
    let act = |a: &tinyforge_graph::Activation| match a {
        tinyforge_graph::Activation::None => String::new(),
        a => format!(" {a:?}").to_lowercase(),
    };
    let pad = |p: &tinyforge_graph::Padding| format!("{p:?}").to_lowercase();
    match op {
        Op::Conv2d(o) => format!(
            "s{}×{} {}{}",
            o.stride_h,
            o.stride_w,
            pad(&o.padding),
            act(&o.activation)
        ),
        Op::Conv2dAdd {
            conv: o,
            add_activation,
            ..
        } => format!(
            "s{}×{} {}{} +add{}",
            o.stride_h,
            o.stride_w,
            pad(&o.padding),
            act(&o.activation),
            act(add_activation)
        ),
        Op::DepthwiseConv2d(o) => format!(
            "s{}×{} {} ×{}{}",
            o.stride_h,
            o.stride_w,
            pad(&o.padding),
            o.depth_multiplier,
            act(&o.activation)
        ),
        Op::AveragePool2d(o) | Op::MaxPool2d(o) => format!(
            "{}×{} s{}×{} {}{}",
            o.filter_h,
            o.filter_w,
            o.stride_h,
            o.stride_w,
            pad(&o.padding),
            act(&o.activation)
        ),
        Op::FullyConnected(o) => act(&o.activation).trim().to_string(),
        Op::Add { activation } | Op::Mul { activation } => act(activation).trim().to_string(),
        Op::Softmax { beta } => format!("β={beta}"),
        Op::Concatenation { axis, .. } => format!("axis {axis}"),
        Op::Mean { keep_dims } => {
            if *keep_dims {
                "keep dims".into()
            } else {
                String::new()
            }
        }
        _ => String::new(),
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let path = args.model.display().to_string();
    let graph = super::load_model(&args.model)?;
    let device = args
        .target
        .as_deref()
        .map(|t| Device::lookup(t).with_context(|| format!("--target {t}")))
        .transpose()?;
    let plan = plan_default(&graph).with_context(|| format!("{path}: cannot plan the model"))?;
    let cost = graph_cost(&graph);
    // The flash estimate does not depend on the device; any profile gives the same `used`.
    let reference = match &device {
        Some(d) => d.clone(),
        None => Device::builtins()
            .into_iter()
            .next()
            .context("no built-in device profile")?,
    };
    let report = fit(&plan, &reference, &FitOptions::default());

    let layers: Vec<_> = graph
        .nodes
        .iter()
        .zip(&cost.nodes)
        .map(|(n, c)| {
            (
                n.op.name(),
                shape(&graph, n.inputs.first().copied().flatten()),
                shape(&graph, n.outputs.first().copied()),
                options(&n.op),
                c,
            )
        })
        .collect();

    if args.json {
        let mut v = json!({
            "model": path,
            "params": cost.params,
            "macs": cost.macs,
            "ops": cost.ops,
            "weights_bytes": cost.weight_bytes,
            "peak_sram_bytes": plan.arena_bytes,
            "flash_bytes": report.flash.used,
            "code_bytes": report.code_bytes,
            "fused": plan.fused.len(),
            "layers": layers.iter().enumerate().map(|(i, (op, ins, outs, opts, c))| json!({
                "index": i,
                "op": op,
                "input": ins,
                "output": outs,
                "options": opts,
                "params": c.params,
                "macs": c.macs,
                "weights_bytes": c.weight_bytes,
                "activation_bytes": c.activation_bytes,
            })).collect::<Vec<_>>(),
        });
        if let Some(d) = &device {
            v["target"] = json!(d.name);
            v["fits"] = json!(report.fits);
            v["flash_margin_bytes"] = json!(report.flash.margin() as i64);
            v["sram_margin_bytes"] = json!(report.sram.margin() as i64);
            v["sram_bytes"] = json!(report.sram.used);
            v["latency_estimate_s"] = json!(report.latency_s);
            v["instructions_estimate"] = json!(report.instructions);
            v["problems"] = json!(report.problems());
        }
        // Int8 filters in the TFSR2 sparse format (see `compress::prune::sparse`): per layer,
        // and the totals stored in flash (each filter encoded where that is smaller).
        let sparse = tinyforge_compress::prune::sparse::sparse_layers(&graph);
        let (d, e) = tinyforge_compress::prune::sparse::weight_bytes(&graph);
        v["sparse_weights"] = json!({
            "format": "TFSR2",
            "dense_bytes": d,
            "encoded_bytes": e,
            "ratio": if d > 0 { (e as f64 / d as f64 * 1000.0).round() / 1000.0 } else { 1.0 },
            "layers": sparse.iter().map(|l| {
                let mut j = json!(l);
                j["sparsity"] = json!((l.sparsity() as f64 * 1000.0).round() / 1000.0);
                j["stored_bytes"] = json!(l.stored_bytes());
                j
            }).collect::<Vec<_>>(),
        });
        println!("{v}");
        return Ok(());
    }

    println!(
        "{path}: {} nodes, {} tensors",
        graph.nodes.len(),
        graph.tensors.len()
    );
    println!(
        "{:>3}  {:<18} {:<14} {:<14} {:<22} {:>8} {:>11} {:>9} {:>10}",
        "#", "op", "input", "output", "options", "params", "MACs", "weights", "act bytes"
    );
    for (i, (op, ins, outs, opts, c)) in layers.iter().enumerate() {
        println!(
            "{i:>3}  {op:<18} {ins:<14} {outs:<14} {opts:<22} {:>8} {:>11} {:>9} {:>10}",
            c.params, c.macs, c.weight_bytes, c.activation_bytes
        );
    }
    println!(
        "total: {} params, {} MACs, {} other ops, {} B weights",
        cost.params, cost.macs, cost.ops, cost.weight_bytes
    );
    println!(
        "peak SRAM (planned arena): {} B{}",
        plan.arena_bytes,
        if plan.fused.is_empty() {
            String::new()
        } else {
            format!(" ({} conv+add fused)", plan.fused.len())
        }
    );
    println!(
        "flash estimate: {} B (weights {} + tables {} + code {})",
        report.flash.used, report.weight_bytes, report.metadata_bytes, report.code_bytes
    );
    let sparse = tinyforge_compress::prune::sparse::sparse_layers(&graph);
    if sparse.iter().any(|l| l.zeros > 0) {
        let (d, e) = tinyforge_compress::prune::sparse::weight_bytes(&graph);
        println!("sparse weights (TFSR2):");
        println!(
            "{:>3}  {:<18} {:>8} {:>7} {:>7} {:>8} {:<9} {:<6}",
            "#", "op", "weights", "sparse", "dense B", "stored B", "layout", "host"
        );
        for l in &sparse {
            let layout = if l.encoded_bytes < l.dense_bytes {
                format!("{}/{}", l.layout, l.block)
            } else {
                "dense".to_string()
            };
            println!(
                "{:>3}  {:<18} {:>8} {:>6.1}% {:>7} {:>8} {:<9} {:<6}",
                l.node,
                l.op,
                l.weights,
                100.0 * l.sparsity(),
                l.dense_bytes,
                l.stored_bytes(),
                layout,
                if l.host_sparse { "sparse" } else { "dense" }
            );
        }
        println!(
            "sparse weights: {e} B stored of {d} B dense ({:.3}x)",
            e as f64 / d.max(1) as f64
        );
    }
    if device.is_some() {
        print!("{report}");
        println!();
    }
    Ok(())
}
