#!/usr/bin/env bash
# Pruning on the MNIST DS-CNN: unstructured 80 % and structured half-channels, each then
# quantized to int8; reports accuracy drops, sparse-encoded weight bytes, MACs, planned peak
# SRAM and host latency (sparse vs dense int8). Usage: bench/prune_mnist.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-${TMPDIR:-/tmp}/tinyforge-prune-bench}
EPOCHS=${PRUNE_EPOCHS:-20}
mkdir -p "$W"
cargo build --release -q -p tinyforge
T=${CARGO_TARGET_DIR:-target}/release/tinyforge
j() { python3 -c "import json,sys; d=json.loads(sys.stdin.read().strip().splitlines()[-1]); print(d$1)"; }

if [ ! -f "$W/base/model.tflite" ]; then
  "$T" train examples/mnist_dscnn.toml --out "$W/base" --json > "$W/train.json"
fi
B="$W/base/model.tflite"
"$T" prune "$B" --data data/mnist --sparsity 0.8 --epochs "$EPOCHS" --augment-shift 0 --out "$W/sparse80.tflite" --json | tee "$W/sparse80.json"
"$T" prune "$B" --data data/mnist --structured --sparsity 0.5 --epochs "$EPOCHS" --out "$W/half.tflite" --json | tee "$W/half.json"
"$T" prune "$B" --data data/mnist --structured --sparsity 0.3 --epochs "$EPOCHS" --out "$W/s30.tflite" --json | tee "$W/s30.json"
"$T" prune "$B" --data data/mnist --sparsity 0.8 --pattern 1x4 --epochs "$EPOCHS" --augment-shift 0 --out "$W/b80.tflite" --json | tee "$W/b80.json"
for m in base/model sparse80 half s30 b80; do
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
echo "== 1x4 blocks 80 %"
echo "float accuracy: $(j "['accuracy_before']" < "$W/b80.json") -> $(j "['accuracy_after']" < "$W/b80.json")"
"$T" inspect "$W/b80_int8.tflite" --json > "$W/i_b80.json"
D=$(j "['sparse_weights']['dense_bytes']" < "$W/i_b80.json"); E=$(j "['sparse_weights']['encoded_bytes']" < "$W/i_b80.json")
echo "int8 weight bytes: dense $D, sparse encoding $E, ratio $(python3 -c "print(round($E/$D,3))")"
"$T" bench "$W/b80_int8.tflite" --json > "$W/b_b80.json"
BB=$(j "['median_us']" < "$W/b_b80.json")
echo "host latency: dense $BD us, 1x4 sparse $BB us, ratio $(python3 -c "print(round($BB/$BD,3))")"
for s in half s30; do
  echo "== structured $s (channels removed: $(j "['sparsity']" < "$W/$s.json"))"
  echo "float accuracy: $(j "['accuracy_before']" < "$W/$s.json") -> $(j "['accuracy_after']" < "$W/$s.json")"
  "$T" inspect "$W/${s}_int8.tflite" --json > "$W/i_$s.json"
  M0=$(j "['macs']" < "$W/i_dense.json"); M1=$(j "['macs']" < "$W/i_$s.json")
  S0=$(j "['peak_sram_bytes']" < "$W/i_dense.json"); S1=$(j "['peak_sram_bytes']" < "$W/i_$s.json")
  echo "MACs $M0 -> $M1 ($(python3 -c "print(round($M1/$M0,3))")x), peak SRAM $S0 -> $S1 B ($(python3 -c "print(round($S1/$S0,3))")x)"
done
