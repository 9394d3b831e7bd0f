#!/usr/bin/env python3
"""Joins `tinyforge bench --json` lines with `litert_latency.py` lines and prints the table.

tinyforge's latency per model is the best of its medians (it is run before and after the
baselines); ratios are baseline / tinyforge, so > 1 means tinyforge is faster.
Exit code 1 if any model misses the bar (>= 5x faster than TFLite Micro).
"""
import json
import sys

BAR = 5.0


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    ours, base = load(sys.argv[1]), load(sys.argv[2])
    tf = {}
    for r in ours:
        tf[r["model"]] = min(tf.get(r["model"], float("inf")), r["median_us"])
    rows = []
    ok = True
    for b in base:
        m = b["model"]
        t = tf.get(m)
        lr, tflm = b.get("litert_default_us"), b.get("tflm_us")
        r_tflm = tflm / t if t and tflm else None
        r_lr = lr / t if t and lr else None
        passed = r_tflm is not None and r_tflm >= BAR
        ok &= passed
        rows.append((m, t, lr, b.get("litert_ref_us"), tflm, r_lr, r_tflm, passed))

    def f(v, unit=""):
        return "-" if v is None else f"{v:,.1f}{unit}"

    head = ("model", "tinyforge µs", "LiteRT µs", "LiteRT ref µs", "TFLM µs",
            "vs LiteRT", "vs TFLM", f">= {BAR:g}x TFLM")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for m, t, lr, ref, tflm, r_lr, r_tflm, passed in rows:
        print(f"| {m} | {f(t)} | {f(lr)} | {f(ref)} | {f(tflm)} | {f(r_lr, 'x')} | "
              f"{f(r_tflm, 'x')} | {'yes' if passed else 'NO'} |")
    print("(ratios: baseline time / tinyforge time; > 1x means tinyforge is faster)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
