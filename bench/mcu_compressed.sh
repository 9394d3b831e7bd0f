#!/usr/bin/env bash
# The MNIST DS-CNN recipe on the emulated Cortex-M4F (QEMU mps2-an386) with each weight
# storage the code generator emits: dense int8, packed int4 and int2 (read in place), and an
# 80 %-pruned model as dense int8 (`deploy --dense`) and as TFSR2 sparse blobs. Prints filter
# bytes, flash of the whole image, instructions per inference and test accuracy, and checks the
# device's outputs against the host runtime. Needs scripts/install-mcu-tools.sh.
# Usage: bench/mcu_compressed.sh [tinyforge binary]   (OUT=dir keeps the models)
set -euo pipefail
cd "$(dirname "$0")/.."
TF=${1:-target/release/tinyforge}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
float=$OUT/train/model.tflite
[ -f "$float" ] || "$TF" train examples/mnist_dscnn.toml --out "$OUT/train" >/dev/null
q() { [ -f "$OUT/$2.tflite" ] || "$TF" quantize "$1" --data data/mnist --bits "$3" --out "$OUT/$2.tflite" >/dev/null; }
q "$float" int8 8
q "$float" int4 4
# int2 needs a quantizer that writes 2-bit weights; skipped when it refuses
q "$float" int2 2 2>/dev/null || echo "int2: quantize --bits 2 not available, skipped" >&2
[ -f "$OUT/pruned.tflite" ] || "$TF" prune "$float" --data data/mnist --sparsity 0.8 --out "$OUT/pruned.tflite" >/dev/null
q "$OUT/pruned.tflite" pruned_int8 8
# four int8 inputs (instruction counts hardly depend on the data; outputs are checked)
python3 -c "import random,sys; random.seed(1); sys.stdout.buffer.write(bytes(random.randrange(256) for _ in range(4 * 784)))" >"$OUT/in.bin"
printf '%-22s %10s %10s %14s %9s %8s %s\n' model filter_B flash_B instr/inference MAC/instr accuracy outputs_match
run() { # name model [deploy flags]
    local name=$1 model=$2; shift 2
    local dir=$OUT/d_${name//[^a-z0-9]/_}
    "$TF" deploy "$model" --target nano33ble --format c --out "$dir" --json "$@" >"$dir.json"
    "$TF" mcu-run "$dir" --input "$OUT/in.bin" --json >"$dir.mcu.json"
    acc=$("$TF" eval "$model" --data data/mnist --json | python3 -c "import json,sys; print('%.2f %%' % (100 * json.load(sys.stdin)['test_accuracy']))")
    python3 - "$name" "$dir.json" "$dir.mcu.json" "$acc" <<'PY'
import json, sys
name, d, m, acc = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), sys.argv[4]
print('%-22s %10d %10d %14d %9.3f %8s %s' % (name, d['filter_bytes'], m['flash_bytes'],
      m['instructions'], m['macs_per_instruction'], acc, m['outputs_match']))
for i, l in enumerate(m['layers']):
    if l.get('weights'):
        print('    %2d %-12s %-6s %6d B %9d instr' % (i, l['op'], l['weights'], l['weight_bytes'], l['instructions']))
PY
}
[ -n "${ONLY_PRUNED:-}" ] || run "int8" "$OUT/int8.tflite"
[ -n "${ONLY_PRUNED:-}" ] || run "int4" "$OUT/int4.tflite"
[ -f "$OUT/int2.tflite" ] && run "int2" "$OUT/int2.tflite"
run "pruned 80% dense" "$OUT/pruned_int8.tflite" --dense
run "pruned 80% sparse" "$OUT/pruned_int8.tflite"
