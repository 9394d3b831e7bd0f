//! Checkpoints in safetensors: model parameters (`p.<node>.<param>`), non-trainable state such
//! as BN running statistics (`s.<node>.<name>`), optimizer slots (`o1.<i>`, `o2.<i>`), and in
//! the metadata the training configuration, completed epochs, optimizer step, early-stopping
//! best and history (JSON). The data pipeline's randomness depends only on `(seed, epoch)`,
//! and dropout masks on a per-layer call counter kept in the state, so these fields are the
//! whole RNG state: a resumed run ends bit-identical to an uninterrupted one.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use safetensors::SafeTensors;

use crate::error::{TrainError, TrainResult};
use crate::model::Model;
use crate::optim::Optimizer;
use crate::trainer::{EpochStats, TrainConfig, Trainer};

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn floats(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn err(e: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint(e.to_string())
}

/// Serializes model weights and state plus (optionally) the trainer's state.
pub fn to_bytes(model: &mut Model, trainer: Option<&Trainer>) -> TrainResult<Vec<u8>> {
    let mut entries: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    model.visit_named_params(&mut |k, p| {
        entries.push((format!("p.{k}"), p.shape.clone(), bytes(&p.value)))
    });
    model.visit_state(&mut |k, v| entries.push((format!("s.{k}"), vec![v.len()], bytes(v))));
    let mut meta = HashMap::new();
    meta.insert("format".to_string(), "tinyforge-train/1".to_string());
    if let Some(t) = trainer {
        for (i, s) in t.optimizer.slot1.iter().enumerate() {
            entries.push((format!("o1.{i:05}"), vec![s.len()], bytes(s)));
        }
        for (i, s) in t.optimizer.slot2.iter().enumerate() {
            entries.push((format!("o2.{i:05}"), vec![s.len()], bytes(s)));
        }
        meta.insert(
            "config".into(),
            serde_json::to_string(&t.config).map_err(err)?,
        );
        meta.insert("epoch".into(), t.epoch.to_string());
        meta.insert("opt_step".into(), t.optimizer.step.to_string());
        meta.insert("seed".into(), t.config.seed.to_string());
        meta.insert(
            "history".into(),
            serde_json::to_string(&t.history).map_err(err)?,
        );
        if let Some((v, e)) = t.best {
            meta.insert("best".into(), format!("{}:{e}", v.to_bits()));
        }
    }
    let views: Vec<(String, TensorView)> = entries
        .iter()
        .map(|(k, s, b)| {
            Ok((
                k.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).map_err(err)?,
            ))
        })
        .collect::<TrainResult<_>>()?;
    safetensors::serialize(views, &Some(meta)).map_err(err)
}

/// Writes a checkpoint file.
pub fn save(path: &Path, model: &mut Model, trainer: Option<&Trainer>) -> TrainResult<()> {
    let b = to_bytes(model, trainer)?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, b)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Restores weights and state into `model` (which must have the same architecture) and
/// returns the trainer state, when the checkpoint has one.
pub fn from_bytes(buf: &[u8], model: &mut Model) -> TrainResult<Option<Trainer>> {
    let st = SafeTensors::deserialize(buf).map_err(err)?;
    let (_, header) = SafeTensors::read_metadata(buf).map_err(err)?;
    let meta = header.metadata().clone().unwrap_or_default();
    let mut problem: Option<TrainError> = None;
    model.visit_named_params(&mut |k, p| {
        if problem.is_some() {
            return;
        }
        match st.tensor(&format!("p.{k}")) {
            Ok(t) if t.dtype() == Dtype::F32 && t.shape() == p.shape.as_slice() => {
                p.value = floats(t.data());
            }
            Ok(t) => {
                problem = Some(err(format!(
                    "{k}: shape {:?} in checkpoint, {:?} in model",
                    t.shape(),
                    p.shape
                )))
            }
            Err(_) => problem = Some(err(format!("{k} missing from checkpoint"))),
        }
    });
    model.visit_state(&mut |k, v| {
        if problem.is_some() {
            return;
        }
        match st.tensor(&format!("s.{k}")) {
            Ok(t) if t.dtype() == Dtype::F32 && t.data().len() == 4 * v.len() => {
                *v = floats(t.data())
            }
            _ => problem = Some(err(format!("state {k} missing or mis-sized"))),
        }
    });
    if let Some(p) = problem {
        return Err(p);
    }
    let Some(cfg) = meta.get("config") else {
        return Ok(None);
    };
    let config: TrainConfig = serde_json::from_str(cfg).map_err(err)?;
    let num = |k: &str| -> TrainResult<u64> {
        meta.get(k)
            .ok_or_else(|| err(format!("{k} missing")))?
            .parse()
            .map_err(err)
    };
    let mut optimizer = Optimizer::new(config.optimizer);
    optimizer.step = num("opt_step")?;
    let mut i = 0;
    while let Ok(t) = st.tensor(&format!("o1.{i:05}")) {
        optimizer.slot1.push(floats(t.data()));
        if let Ok(t2) = st.tensor(&format!("o2.{i:05}")) {
            optimizer.slot2.push(floats(t2.data()));
        }
        i += 1;
    }
    let mut counts = Vec::new();
    model.visit_params(&mut |p| counts.push(p.len()));
    if !optimizer.slot1.is_empty()
        && optimizer
            .slot1
            .iter()
            .map(Vec::len)
            .ne(counts.iter().copied())
    {
        return Err(err("optimizer slots do not match the model's parameters"));
    }
    let history: Vec<EpochStats> = match meta.get("history") {
        Some(h) => serde_json::from_str(h).map_err(err)?,
        None => Vec::new(),
    };
    let mut trainer = Trainer::new(config);
    trainer.optimizer = optimizer;
    trainer.epoch = num("epoch")? as usize;
    trainer.history = history;
    if let Some(b) = meta.get("best") {
        if let Some((v, e)) = b.split_once(':') {
            trainer.best = Some((
                f32::from_bits(v.parse().map_err(err)?),
                e.parse().map_err(err)?,
            ));
        }
    }
    Ok(Some(trainer))
}

/// Reads a checkpoint file into `model`; returns the trainer state when present.
pub fn load(path: &Path, model: &mut Model) -> TrainResult<Option<Trainer>> {
    let b = std::fs::read(path)?;
    from_bytes(&b, model)
}
