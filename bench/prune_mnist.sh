#!/usr/bin/env bash
# Pruning on the MNIST DS-CNN: unstructured 80 % and structured half-channels, each then
# quantized to int8; reports accuracy drops, sparse-encoded weight bytes, MACs, planned peak
# SRAM and host latency (sparse vs dense int8). Usage: bench/prune_mnist.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-${TMPDIR:-/tmp}/tinyforge-prune-bench}
EPOCHS=${PRUNE_EPOCHS:-3}
mkdir -p "$W"
cargo build --release -q -p tinyforge
T=${CARGO_TARGET_DIR:-target}/release/tinyforge
j() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(d$1)"; }

if [ ! -f "$W/base/model.tflite" ]; then
  "$T" train examples/mnist_dscnn.toml --out "$W/base" --json > "$W/train.json"
fi
B="$W/base/model.tflite"
"$T" prune "$B" --data data/mnist --sparsity 0.8 --epochs "$EPOCHS" --out "$W/sparse80.tflite" --json | tee "$W/sparse80.json"
"$T" prune "$B" --data data/mnist --structured --sparsity 0.5 --epochs "$EPOCHS" --out "$W/half.tflite" --json | tee "$W/half.json"
for m in base/model sparse80 half; do
  "$T" quantize "$W/$m.tflite" --data data/mnist --out "$W/$(basename $m)_int8.tflite" --json > "$W/$(basename $m)_q.json"
done
echo "== unstructured 80 %"
echo "float accuracy: $(j "['accuracy_before']" < "$W/sparse80.json") -> $(j "['accuracy_after']" < "$W/sparse80.json"), sparsity $(j "['sparsity']" < "$W/sparse80.json")"
"$T" eval "$W/model_int8.tflite" --data data/mnist --json > "$W/e_dense.json" 2>/dev/null && echo "int8 dense eval: $(tail -1 "$W/e_dense.json")" || true
"$T" eval "$W/sparse80_int8.tflite" --data data/mnist --json > "$W/e_sparse.json" 2>/dev/null && echo "int8 sparse eval: $(tail -1 "$W/e_sparse.json")" || true
"$T" inspect "$W/model_int8.tflite" --json > "$W/i_dense.json"
"$T" inspect "$W/sparse80_int8.tflite" --json > "$W/i_sparse.json"
D=$(j "['sparse_weights']['dense_bytes']" < "$W/i_sparse.json")
E=$(j "['sparse_weights']['encoded_bytes']" < "$W/i_sparse.json")
echo "int8 weight bytes: dense $D, sparse encoding $E, ratio $(python3 -c "print(round($E/$D,3))")"
"$T" bench "$W/model_int8.tflite" --json > "$W/b_dense.json"
"$T" bench "$W/sparse80_int8.tflite" --json > "$W/b_sparse.json"
BD=$(j "['median_us']" < "$W/b_dense.json"); BS=$(j "['median_us']" < "$W/b_sparse.json")
echo "host latency: dense $BD us, sparse $BS us, ratio $(python3 -c "print(round($BS/$BD,3))")"
echo "== structured half channels"
echo "float accuracy: $(j "['accuracy_before']" < "$W/half.json") -> $(j "['accuracy_after']" < "$W/half.json")"
"$T" inspect "$W/half_int8.tflite" --json > "$W/i_half.json"
M0=$(j "['macs']" < "$W/i_dense.json"); M1=$(j "['macs']" < "$W/i_half.json")
S0=$(j "['peak_sram_bytes']" < "$W/i_dense.json"); S1=$(j "['peak_sram_bytes']" < "$W/i_half.json")
echo "MACs $M0 -> $M1 ($(python3 -c "print(round($M1/$M0,3))")x), peak SRAM $S0 -> $S1 B ($(python3 -c "print(round($S1/$S0,3))")x)"
