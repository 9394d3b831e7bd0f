#!/usr/bin/env bash
# Host latency of the tinyforge runtime against LiteRT (default XNNPACK kernels, one thread) and
# TFLite Micro, on the four MLPerf Tiny int8 models, measured in one run on the same machine.
#
# Usage: bench/runtime_vs_litert.sh
#   PYTHON=/path/to/venv/bin/python   Python with ai-edge-litert, tflite-micro, numpy
#                                     (default: python3)
#   LITERT_LATENCY=/path/litert_latency.py   the baseline script (default:
#                                     ../shared/tools/baselines/litert_latency.py beside the repo)
#   ITERS=N                           timed tinyforge inferences per model (default 1000)
# Prints a table with the speed-up ratios; the bar is >= 5x faster than TFLM on each model.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
LITERT_LATENCY=${LITERT_LATENCY:-$ROOT/../shared/tools/baselines/litert_latency.py}
ITERS=${ITERS:-1000}
MODELS=(kws_ref_model vww_96_int8 pretrainedResnet_quant ad01_int8)

if [ ! -f "$LITERT_LATENCY" ]; then
    echo "runtime_vs_litert: baseline script not found at $LITERT_LATENCY (set LITERT_LATENCY)" >&2
    exit 1
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build --release -q -p tinyforge --manifest-path "$ROOT/Cargo.toml"
BIN=$CARGO_TARGET_DIR/release/tinyforge

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

paths=()
for m in "${MODELS[@]}"; do
    p=$ROOT/testdata/models/$m.tflite
    paths+=("$p")
    "$BIN" bench "$p" --iters "$ITERS" --json >>"$OUT/tinyforge.jsonl"
done
"$PYTHON" "$LITERT_LATENCY" "${paths[@]}" >"$OUT/baseline.jsonl"
# A second tinyforge pass after the baselines, so drift in machine load shows up as a spread.
for p in "${paths[@]}"; do
    "$BIN" bench "$p" --iters "$ITERS" --json >>"$OUT/tinyforge.jsonl"
done

"$PYTHON" "$ROOT/bench/latency_table.py" "$OUT/tinyforge.jsonl" "$OUT/baseline.jsonl"
