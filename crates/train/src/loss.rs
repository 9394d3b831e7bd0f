//! Losses: softmax cross-entropy from logits (sparse integer labels) and mean squared error.
//! Both return the batch-mean loss and write its gradient with respect to the model output.

use crate::error::{TrainError, TrainResult};
use crate::tensor::Tensor;

/// Mean softmax cross-entropy of `logits [N,K]` against `labels` (class indices); writes
/// `d loss / d logits = (softmax − onehot) / N` into `grad`.
pub fn softmax_cross_entropy(
    logits: &Tensor,
    labels: &[u32],
    grad: &mut Tensor,
) -> TrainResult<f32> {
    let n = logits.batch();
    let k = logits.sample_len();
    if labels.len() != n {
        return Err(TrainError::Data(format!(
            "{} labels for a batch of {n}",
            labels.len()
        )));
    }
    if let Some(&bad) = labels.iter().find(|&&l| l as usize >= k) {
        return Err(TrainError::Data(format!(
            "label {bad} out of range for {k} classes"
        )));
    }
    grad.reshape_to(n, &logits.shape[1..]);
    let mut total = 0.0f64;
    let inv_n = 1.0 / n.max(1) as f32;
    for ((row, g), &lab) in logits
        .data
        .chunks_exact(k)
        .zip(grad.data.chunks_exact_mut(k))
        .zip(labels)
    {
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let mut sum = 0.0f32;
        for (gv, &v) in g.iter_mut().zip(row) {
            let e = (v - m).exp();
            *gv = e;
            sum += e;
        }
        let lse = m + sum.ln();
        total += (lse - row[lab as usize]) as f64;
        for gv in g.iter_mut() {
            *gv *= inv_n / sum;
        }
        g[lab as usize] -= inv_n;
    }
    Ok((total / n.max(1) as f64) as f32)
}

/// Mean (over all elements) squared error; writes `2 (pred − target) / numel` into `grad`.
pub fn mse(pred: &Tensor, target: &[f32], grad: &mut Tensor) -> TrainResult<f32> {
    if target.len() != pred.len() {
        return Err(TrainError::Data(format!(
            "mse: {} targets for {} predictions",
            target.len(),
            pred.len()
        )));
    }
    grad.reshape_to(pred.batch(), &pred.shape[1..]);
    let inv = 1.0 / pred.len().max(1) as f32;
    let mut total = 0.0f64;
    for ((g, &p), &t) in grad.data.iter_mut().zip(&pred.data).zip(target) {
        let d = p - t;
        total += (d * d) as f64;
        *g = 2.0 * d * inv;
    }
    Ok((total * inv as f64) as f32)
}

/// Index of the largest value of each row.
pub fn argmax_rows(t: &Tensor) -> impl Iterator<Item = usize> + '_ {
    let k = t.sample_len().max(1);
    t.data.chunks_exact(k).map(|r| {
        r.iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
                if v > bv {
                    (i, v)
                } else {
                    (bi, bv)
                }
            })
            .0
    })
}
