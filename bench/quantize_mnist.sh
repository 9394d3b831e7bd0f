#!/usr/bin/env bash
# Quantization of the product's MNIST DS-CNN: trains the float model with the bundled recipe
# (or takes MODEL=path/to/float.tflite), then quantizes it with calibration (and, for the QAT
# rows, fine-tuning) on the training part and reports accuracy on the test split (last 2,000
# images) before and after, and model bytes.
#   bench/quantize_mnist.sh [EPOCHS] [QAT_EPOCHS] [QAT2_EPOCHS]
# Bars (issue 2): int8 PTQ drop <= 0.3 points, 4-bit QAT <= 1.0, 2-bit QAT <= 3.0;
# bytes int8 <= 0.27x float, int4 <= 0.15x.
# Rows: int8, int4 (PTQ), int4_qat, int2 (PTQ, for reference), int2_qat (every conv and
# depthwise layer at 2 bits; the dense head at 8, the QAT default), mixed_qat (the first conv
# and the dense head at 8 bits, the rest at 2: bench/mnist_mixed.toml), and the per-layer
# sensitivity table (--sensitivity).
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS="${1:-16}"
QAT="${2:-3}"
QAT2="${3:-8}"
OUT=runs/bench_quantize
mkdir -p "$OUT"
cargo build --release -p tinyforge
TF=target/release/tinyforge
[ -n "${CARGO_TARGET_DIR:-}" ] && TF="$CARGO_TARGET_DIR/release/tinyforge"
if [ -n "${MODEL:-}" ]; then
  [ "$MODEL" -ef "$OUT/model.tflite" ] || cp "$MODEL" "$OUT/model.tflite"
else
  "$TF" train examples/mnist_dscnn.toml --out "$OUT" --epochs "$EPOCHS"
fi
run() { # NAME ARGS...
  local name=$1; shift
  local t0=$SECONDS
  "$TF" quantize "$OUT/model.tflite" --data data/mnist "$@" \
    --out "$OUT/model_$name.tflite" --json > "$OUT/quantize_$name.json"
  python3 - "$OUT/quantize_$name.json" "$name" "$((SECONDS - t0))" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
b = j["bytes_after"] / j["bytes_before"]
f = j["constant_bytes"] / j["bytes_before"]
print(f"{sys.argv[2]:<10} accuracy {100*j['accuracy_before']:.2f}% -> "
      f"{100*j['accuracy_after']:.2f}% (drop {100*(j['accuracy_before']-j['accuracy_after']):.2f} pts), "
      f"bytes {j['bytes_before']} -> {j['bytes_after']} ({b:.3f}x; weights+biases alone "
      f"{j['constant_bytes']} = {f:.3f}x), calibration {j['calibration']}, {sys.argv[3]} s")
PY
}
run int8 --bits 8
run int4 --bits 4
# The smallest files TFLite Micro loads (LiteRT refuses them: one zero point per per-channel
# tensor, no implied bias parameters).
run int8_tflm --bits 8 --tflm-only
run int4_tflm --bits 4 --tflm-only
run int4_qat --bits 4 --qat "$QAT"
echo "2-bit rows: int2 = every layer at 2 bits, no fine-tuning; int2_qat = every conv and"
echo "depthwise layer at 2 bits, the dense head (640 weights) at 8 bits (the --qat default);"
echo "mixed_qat = int2_qat with the first conv (144 weights) at 8 bits too."
run int2 --bits 2
run int2_qat --bits 2 --qat "$QAT2" --qat-lr 1e-3
run mixed_qat --per-layer bench/mnist_mixed.toml --qat "$QAT2" --qat-lr 1e-3
"$TF" quantize "$OUT/model.tflite" --data data/mnist --sensitivity | tee "$OUT/sensitivity.txt"
