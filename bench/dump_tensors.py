#!/usr/bin/env python3
"""Dumps every tensor of a .tflite model after one inference with LiteRT's reference kernels.

For finding which node diverges when `tinyforge run` differs from a reference: LiteRT's
BUILTIN_REF kernels match TFLite Micro wherever the reference manifests say so, and
`experimental_preserve_all_tensors=True` keeps the intermediates.

Usage: dump_tensors.py MODEL.tflite OUT_DIR [--input IN.bin ...] [--sample K]
Writes OUT_DIR/t<index>.bin (raw little-endian) and OUT_DIR/tensors.json (index, name, shape,
dtype, quantization) for every tensor that has a value.
"""
import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
from ai_edge_litert.interpreter import Interpreter, OpResolverType  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("out_dir")
    p.add_argument("--input", action="append", default=[])
    p.add_argument("--sample", type=int, default=0)
    a = p.parse_args()
    it = Interpreter(model_path=a.model, num_threads=1,
                     experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    for d, path in zip(it.get_input_details(), a.input):
        one = int(np.prod(d["shape"]))
        x = np.fromfile(path, dtype=d["dtype"])[a.sample * one:(a.sample + 1) * one]
        it.set_tensor(d["index"], x.reshape(d["shape"]))
    it.invoke()
    os.makedirs(a.out_dir, exist_ok=True)
    meta = []
    for d in it.get_tensor_details():
        try:
            v = it.get_tensor(d["index"])
        except ValueError:
            continue
        v.tofile(os.path.join(a.out_dir, f"t{d['index']}.bin"))
        q = d["quantization_parameters"]
        meta.append({"index": d["index"], "name": d["name"], "shape": list(map(int, d["shape"])),
                     "dtype": np.dtype(d["dtype"]).name,
                     "scales": list(map(float, q["scales"])),
                     "zero_points": list(map(int, q["zero_points"]))})
    with open(os.path.join(a.out_dir, "tensors.json"), "w") as f:
        json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
