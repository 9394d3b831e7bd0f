#!/usr/bin/env bash
# Training throughput: tinyforge-train vs TensorFlow/Keras CPU on the two reference nets of
# DESIGN §5 (tiny net, batch 64; MLPerf Tiny KWS DS-CNN, batch 100; Adam; XLA off).
# Each net: our bench example, then Keras, back to back, so both see the same machine load.
# Usage: bench/train_vs_keras.sh [STEPS]   (env: PYTHON, KERAS_BASELINE, THREADS)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${1:-200}"
THREADS="${THREADS:-2}"
PYTHON="${PYTHON:-/work/venv-tf/bin/python}"
KERAS_BASELINE="${KERAS_BASELINE:-../shared/tools/baselines/keras_train_baseline.py}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"

cargo build --release -q -p tinyforge-train --example train_bench
BIN="$CARGO_TARGET_DIR/release/examples/train_bench"

have_keras=1
if [[ ! -x "$PYTHON" || ! -f "$KERAS_BASELINE" ]]; then
  echo "SKIPPED keras: no python at $PYTHON or no $KERAS_BASELINE" >&2
  have_keras=0
fi

field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" | head -1; }

printf '%-6s %-6s %12s %12s %8s\n' net batch ours_st/s keras_st/s ratio
for spec in "tiny 64" "kws 100"; do
  set -- $spec
  net=$1; batch=$2
  echo "load before $net: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  ours_json=$("$BIN" --net "$net" --batch "$batch" --steps "$STEPS" --warmup 20 --repeats 3 --threads "$THREADS" 2>"bench/.train_${net}_layers.txt")
  ours=$(echo "$ours_json" | field steps_per_s)
  keras="n/a"; ratio="n/a"
  if [[ $have_keras == 1 ]]; then
    keras_json=$("$PYTHON" "$KERAS_BASELINE" --net "$net" --batch "$batch" --steps "$STEPS" \
      --threads "$THREADS" --inter 1 --mode step 2>/dev/null | tail -1)
    keras=$(echo "$keras_json" | field steps_per_s)
    ratio=$(awk -v a="$ours" -v b="$keras" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }')
  fi
  printf '%-6s %-6s %12s %12s %8s\n' "$net" "$batch" "$ours" "$keras" "$ratio"
  echo "ours:  $ours_json" >&2
  [[ $have_keras == 1 ]] && echo "keras: $keras_json" >&2
  cat "bench/.train_${net}_layers.txt" >&2
  rm -f "bench/.train_${net}_layers.txt"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores shared with other work: > 2 means both sides were slowed)" >&2
