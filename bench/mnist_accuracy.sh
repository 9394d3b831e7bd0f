#!/usr/bin/env bash
# Model-quality bench: the MNIST DS-CNN recipe trained by tinyforge and by the Keras anchor,
# back to back on the same machine, accuracy and wall time side by side; then the digits CNN.
#   bench/mnist_accuracy.sh            (from the repository root)
# PYTHON (default /work/venv-tf/bin/python) runs the Keras anchor, found at
# $KERAS_ANCHOR (default ../shared/tools/baselines/keras_mnist_anchor.py); without either the
# Keras column is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-/work/venv-tf/bin/python}"
ANCHOR="${KERAS_ANCHOR:-../shared/tools/baselines/keras_mnist_anchor.py}"
[ -f "$ANCHOR" ] || ANCHOR=/work/shared/tools/baselines/keras_mnist_anchor.py

cargo build --release -q -p tinyforge
BIN="${CARGO_TARGET_DIR:-target}/release/tinyforge"

tf_json=$("$BIN" train examples/mnist_dscnn.toml --out runs/bench_mnist --json)
if [ -x "$PY" ] && [ -f "$ANCHOR" ]; then
  keras_json=$(TF_XLA_FLAGS=--tf_xla_auto_jit=0 CUDA_VISIBLE_DEVICES= TF_CPP_MIN_LOG_LEVEL=3 \
    "$PY" "$ANCHOR" data/mnist 2>/dev/null | tail -1)
else
  keras_json='{}'
fi
digits_json=$("$BIN" train examples/digits_cnn.toml --out runs/bench_digits --json)

python3 - "$tf_json" "$keras_json" "$digits_json" <<'PY'
import json, sys
t, k, d = (json.loads(a) for a in sys.argv[1:4])
print(f"{'MNIST DS-CNN (8k train / 2k test)':<36}{'tinyforge':>12}{'Keras':>12}")
print(f"{'float test accuracy':<36}{100*t['test_accuracy']:>11.2f}%" +
      (f"{100*k['float_acc']:>11.2f}%" if k else f"{'-':>12}"))
print(f"{'training wall time (s)':<36}{t['wall_seconds']:>12.1f}" +
      (f"{k['train_seconds']:>12.1f}" if k else f"{'-':>12}"))
print(f"{'epochs':<36}{t['epochs']:>12}" + (f"{k['epochs']:>12}" if k else f"{'-':>12}"))
print(f"{'parameters':<36}{t['params']:>12}" + (f"{k['params']:>12}" if k else f"{'-':>12}"))
print()
print(f"digits CNN: test accuracy {100*d['test_accuracy']:.2f}% in {d['wall_seconds']:.1f} s "
      f"({d['epochs']} epochs, {d['params']} parameters)")
PY
