#!/usr/bin/env bash
# Deploy each reference model as a C library and measure it on the emulated Cortex-M4F
# (QEMU mps2-an386): instructions per inference, MACs per instruction, flash, static RAM,
# stack, and whether the outputs equal the host runtime's. Needs the tools from
# scripts/install-mcu-tools.sh. Usage: bench/mcu_models.sh [tinyforge binary]
set -euo pipefail
cd "$(dirname "$0")/.."
TF=${1:-target/release/tinyforge}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
printf '%-24s %12s %9s %9s %8s %6s %6s\n' model instructions MAC/instr flash_B ram_B stack outputs_match
for m in kws_ref_model vww_96_int8 pretrainedResnet_quant ad01_int8 hello_world_int8; do
    "$TF" deploy "testdata/models/$m.tflite" --target nano33ble --format c --out "$OUT/$m" >/dev/null
    in=testdata/reference/$m/random_input0.bin
    "$TF" mcu-run "$OUT/$m" --input "$in" --json |
        python3 -c "import json,sys; v=json.load(sys.stdin); print('%-24s %12d %9.3f %9d %8d %6d %6s' % ('$m', v['instructions'], v['macs_per_instruction'], v['flash_bytes'], v['ram_bytes'], v['stack_bytes'], v['outputs_match']))"
done
