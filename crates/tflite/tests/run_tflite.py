"""Runs a .tflite model on one reference set and writes the raw outputs.

Usage: run_tflite.py {litert|tflm} MODEL MANIFEST SET OUT_DIR

Inputs come from the set's files beside MANIFEST (raw little-endian, shape [N, ...]); each
sample is run separately (state reset first) and output k is written to
OUT_DIR/<SET>_output<k>.bin in the same layout. Used by tests/litert.rs to check that files
written by tinyforge load and compute the reference results.
"""
import json
import os
import sys

import numpy as np


def main():
    runtime, model, manifest_path, set_name, out_dir = sys.argv[1:6]
    manifest = json.load(open(manifest_path))
    ref_dir = os.path.dirname(manifest_path)
    spec = manifest["sets"][set_name]
    n = spec["num_samples"]
    inputs = [
        np.fromfile(os.path.join(ref_dir, i["file"]), dtype=i["dtype"]).reshape(i["shape"])
        for i in spec["inputs"]
    ]
    data = open(model, "rb").read()
    outputs = [[] for _ in spec["outputs"]]
    if runtime == "litert":
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        interp = Interpreter(
            model_content=data,
            experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
            num_threads=1,
        )
        interp.allocate_tensors()
        ins = interp.get_input_details()
        outs = interp.get_output_details()
        for s in range(n):
            interp.reset_all_variables()
            for k, x in enumerate(inputs):
                interp.set_tensor(ins[k]["index"], x[s])
            interp.invoke()
            for k in range(len(outputs)):
                outputs[k].append(interp.get_tensor(outs[k]["index"]).copy())
    elif runtime == "tflm":
        from tflite_micro.python.tflite_micro import runtime as tflm

        # The default arena is too small for the 128x128 simple_add model.
        interp = tflm.Interpreter.from_bytes(data, arena_size=16 << 20)
        for s in range(n):
            interp.reset()
            for k, x in enumerate(inputs):
                interp.set_input(x[s], k)
            interp.invoke()
            for k in range(len(outputs)):
                outputs[k].append(interp.get_output(k).copy())
    else:
        sys.exit(f"unknown runtime {runtime}")
    for k, o in enumerate(outputs):
        np.stack(o).tofile(os.path.join(out_dir, f"{set_name}_output{k}.bin"))


if __name__ == "__main__":
    main()
