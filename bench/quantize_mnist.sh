#!/usr/bin/env bash
# Int8 (and int4) post-training quantization of the product's MNIST DS-CNN: trains the float
# model with the bundled recipe, then quantizes it with calibration on the training part and
# reports accuracy on the test split (last 2,000 images) before and after, and model bytes.
#   bench/quantize_mnist.sh [EPOCHS]
# Bars (issue 2): int8 drop <= 0.3 points and bytes <= 0.27x float; int4 bytes <= 0.15x.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS="${1:-16}"
OUT=runs/bench_quantize
mkdir -p "$OUT"
cargo build --release -p tinyforge
TF=target/release/tinyforge
[ -n "${CARGO_TARGET_DIR:-}" ] && TF="$CARGO_TARGET_DIR/release/tinyforge"
"$TF" train examples/mnist_dscnn.toml --out "$OUT" --epochs "$EPOCHS"
for bits in 8 4; do
  "$TF" quantize "$OUT/model.tflite" --data data/mnist --bits "$bits" \
    --out "$OUT/model_int$bits.tflite" --json > "$OUT/quantize_int$bits.json"
  python3 - "$OUT/quantize_int$bits.json" "$bits" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
b = j["bytes_after"] / j["bytes_before"]
print(f"int{sys.argv[2]} weights: accuracy {100*j['accuracy_before']:.2f}% -> "
      f"{100*j['accuracy_after']:.2f}% (drop {100*(j['accuracy_before']-j['accuracy_after']):.2f} pts), "
      f"bytes {j['bytes_before']} -> {j['bytes_after']} ({b:.3f}x), calibration {j['calibration']}")
PY
done
