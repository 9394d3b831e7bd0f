"""Generate bit-exact reference fixtures for tinyforge's int8 kernels.

Each case is a one-operator int8 model built with the TensorFlow Lite converter
(full-integer quantization from a representative dataset) and run by the
TFLite Micro interpreter. The fixture records the quantization parameters the
converter chose, the int8 inputs and TFLM's int8 output, in a line-based text
format that the Rust tests parse without dependencies:

    case <name>
    <key> <values...>        # f32 values are written as their u32 bit patterns
    end

Run:  /work/venv-tf/bin/python tools/gen_ref/gen_ref.py crates/kernels/tests/fixtures
"""
import os
import sys
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tflite_micro.python.tflite_micro import runtime  # noqa: E402



def f32_bits(x):
    return int(np.array(x, dtype=np.float32).view(np.uint32))


def convert(fn, specs, ranges, rng, mode="int8"):
    """mode: int8 (full int8), int16 (16x8: int16 activations, int8 weights), float (no
    quantization), quantize (float in, int8 out), dequantize (int8 in, float out)."""
    def rep():
        for _ in range(64):
            yield [
                rng.uniform(lo, hi, size=s.shape).astype(np.float32)
                for s, (lo, hi) in zip(specs, ranges)
            ]

    conv = tf.lite.TFLiteConverter.from_concrete_functions(
        [tf.function(fn, input_signature=specs).get_concrete_function()]
    )
    if mode == "float":
        return conv.convert()
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    if mode == "int16":
        conv.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
        conv.inference_input_type = tf.int16
        conv.inference_output_type = tf.int16
    else:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.float32 if mode == "quantize" else tf.int8
        conv.inference_output_type = tf.float32 if mode == "dequantize" else tf.int8
    return conv.convert()


def fmt_values(arr):
    """Integers as decimal; float32 values as their u32 bit patterns."""
    arr = np.asarray(arr)
    if arr.dtype == np.float32:
        return " ".join(str(v) for v in arr.reshape(-1).view(np.uint32))
    return " ".join(str(int(v)) for v in arr.reshape(-1))


def make_input(rng, shape, dtype, r, lo, hi, qparams):
    if dtype == np.float32:
        x = rng.uniform(lo, hi, size=shape).astype(np.float32)
        if qparams is not None and x.size >= 8:
            # Exact and near ties of x / scale exercise the rounding rule.
            scale = np.float32(qparams[0])
            flat = x.reshape(-1)
            for k in range(8):
                flat[k] = np.float32((k - 4 + 0.5) * scale)
            # Ties nudged by a few ulp: these tell f32 from f64 division apart.
            for k in range(8, min(48, x.size - 2)):
                t = np.array([(rng.integers(-60, 60) + 0.5) * float(scale)], np.float32)
                flat[k] = (t.view(np.int32) + rng.integers(-3, 4)).view(np.float32)[0]
            flat[-1] = np.float32(1e6)
            flat[-2] = np.float32(-1e6)
        return x
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max + 1, size=shape, dtype=np.int64).astype(dtype)
    if r == 0 and x.size >= 2:
        flat = x.reshape(-1)
        flat[0], flat[1] = info.min, info.max  # always exercise the extremes
    return x


def op_names(model):
    interp = tf.lite.Interpreter(model_content=model)
    return [d["op_name"] for d in interp._get_ops_details()]


def qparams_of(d):
    q = d["quantization_parameters"]
    if len(q["scales"]) == 0:
        return None
    return float(q["scales"][0]), int(q["zero_points"][0])


def output_quant_like_input(model):
    """Rewrites the model so its output tensor has the input tensor's quantization (to reach
    kernel paths that TFLM takes only for identical parameters)."""
    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    sg = m.subgraphs[0]
    src = sg.tensors[sg.inputs[0]].quantization
    dst = sg.tensors[sg.outputs[0]].quantization
    dst.scale = np.array(src.scale, dtype=np.float32)
    dst.zeroPoint = np.array(src.zeroPoint, dtype=np.int64)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


def requantize_model(model, in_type, in_scale, in_zp, out_type=None, out_scale=None, out_zp=0):
    """Turns a QUANTIZE(float→int8) + RESHAPE model into an int→int requantization by giving
    the float input tensor an integer type and quantization (optionally retyping the output)."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    sg = m.subgraphs[0]
    t = sg.tensors[sg.inputs[0]]
    t.type = in_type
    t.quantization = schema.QuantizationParametersT()
    t.quantization.scale = np.array([in_scale], dtype=np.float32)
    t.quantization.zeroPoint = np.array([in_zp], dtype=np.int64)
    if out_type is not None:
        for op in sg.operators:
            for i in op.outputs:
                sg.tensors[i].type = out_type
                sg.tensors[i].quantization.scale = np.array([out_scale], dtype=np.float32)
                sg.tensors[i].quantization.zeroPoint = np.array([out_zp], dtype=np.int64)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(m))


def run_case(out, name, fn, specs, ranges, extra=None, n_runs=1, mode="int8",
             same_quant=False, rewrite=None):
    # Seeded per case so regenerating one file reproduces the committed data exactly.
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    model = convert(fn, specs, ranges, rng, mode)
    if same_quant:
        model = output_quant_like_input(model)
    if rewrite is not None:
        model = rewrite(model)
    ops = op_names(model)
    interp = runtime.Interpreter.from_bytes(model, arena_size=256 * 1024)
    lines = [f"case {name}", "ops " + " ".join(ops)]
    for k, v in (extra or {}).items():
        lines.append(f"{k} {v}")
    in_details = []
    for i, s in enumerate(specs):
        d = interp.get_input_details(i)
        in_details.append(d)
        lines.append(f"in{i}_shape " + " ".join(str(x) for x in s.shape))
        lines.append(f"in{i}_dtype {np.dtype(d['dtype']).name}")
        q = qparams_of(d)
        if q is not None:
            lines.append(f"in{i}_scale {f32_bits(q[0])}")
            lines.append(f"in{i}_zp {q[1]}")
    d = interp.get_output_details(0)
    lines.append("out_shape " + " ".join(str(x) for x in d["shape"]))
    lines.append(f"out_dtype {np.dtype(d['dtype']).name}")
    out_q = qparams_of(d)
    if out_q is not None:
        lines.append(f"out_scale {f32_bits(out_q[0])}")
        lines.append(f"out_zp {out_q[1]}")
    for r in range(n_runs):
        for i, (s, (lo, hi)) in enumerate(zip(specs, ranges)):
            dt = np.dtype(in_details[i]["dtype"]).type
            x = make_input(rng, s.shape, dt, r, lo, hi, out_q if mode == "quantize" else None)
            interp.set_input(x, i)
            lines.append(f"run{r}_in{i} " + fmt_values(x))
        interp.invoke()
        y = interp.get_output(0)
        lines.append(f"run{r}_out " + fmt_values(y))
    lines.append(f"runs {n_runs}")
    lines.append("end")
    out.write("\n".join(lines) + "\n")
    print(name, ops, file=sys.stderr)


def spec(*shape):
    return tf.TensorSpec(shape, tf.float32)


def gen_add(out):
    run_case(out, "add_same", lambda a, b: a + b, [spec(1, 4, 4, 3), spec(1, 4, 4, 3)],
             [(-3, 2), (-0.5, 1.5)], n_runs=3)
    run_case(out, "add_bcast_c", lambda a, b: a + b, [spec(1, 4, 4, 3), spec(1, 1, 1, 3)],
             [(-1, 1), (-4, 4)], n_runs=2)
    run_case(out, "add_bcast_hw", lambda a, b: a + b, [spec(1, 4, 1, 3), spec(1, 1, 5, 1)],
             [(-1, 2), (-2, 0.5)], n_runs=2)
    run_case(out, "add_scalar", lambda a, b: a + b, [spec(2, 3, 2, 4), spec(1)],
             [(-6, 6), (0, 3)], n_runs=2)
    run_case(out, "add_relu", lambda a, b: tf.nn.relu(a + b), [spec(1, 3, 3, 8), spec(1, 3, 3, 8)],
             [(-2, 2), (-2, 2)], n_runs=2)
    run_case(out, "add_relu6", lambda a, b: tf.nn.relu6(a + b), [spec(1, 3, 3, 8), spec(1, 3, 3, 8)],
             [(-8, 8), (-8, 8)], n_runs=2)


def gen_mul(out):
    run_case(out, "mul_same", lambda a, b: a * b, [spec(1, 4, 4, 3), spec(1, 4, 4, 3)],
             [(-3, 2), (-0.5, 1.5)], n_runs=3)
    run_case(out, "mul_bcast_c", lambda a, b: a * b, [spec(1, 4, 4, 3), spec(1, 1, 1, 3)],
             [(-1, 1), (-4, 4)], n_runs=2)
    run_case(out, "mul_bcast_hw", lambda a, b: a * b, [spec(2, 4, 1, 3), spec(1, 1, 5, 1)],
             [(-1, 2), (-2, 0.5)], n_runs=2)
    run_case(out, "mul_relu", lambda a, b: tf.nn.relu(a * b), [spec(1, 3, 3, 8), spec(1, 3, 3, 8)],
             [(-2, 2), (-2, 2)], n_runs=2)


def gen_softmax(out):
    run_case(out, "softmax_10", lambda a: tf.nn.softmax(a), [spec(1, 10)], [(-5, 5)], n_runs=4)
    run_case(out, "softmax_12x3", lambda a: tf.nn.softmax(a), [spec(3, 12)], [(-20, 10)], n_runs=3)
    run_case(out, "softmax_narrow", lambda a: tf.nn.softmax(a), [spec(2, 7)], [(-0.3, 0.3)], n_runs=3)
    run_case(out, "softmax_4d", lambda a: tf.nn.softmax(a), [spec(1, 2, 2, 33)], [(-60, 40)], n_runs=2)
    # The final SOFTMAX of the reference models, with their exact input quantization.
    for name, n, scale, zp in [("kws", 12, 0.14469251036643982, 14),
                               ("resnet", 10, 0.17185351252555847, 24),
                               ("vww", 2, 0.014636218547821045, -5)]:
        run_case(out, f"softmax_{name}", lambda a: tf.nn.softmax(a), [spec(16, n)], [(-8, 8)],
                 n_runs=4, rewrite=lambda m, s=scale, z=zp: requantize_model(m, 9, s, z))


def gen_logistic_tanh(out):
    for lo, hi, tag in [(-8, 8, "wide"), (-1, 3, "narrow"), (-40, 40, "huge")]:
        run_case(out, f"logistic_{tag}", lambda a: tf.math.sigmoid(a), [spec(1, 256)], [(lo, hi)], n_runs=2)
        run_case(out, f"tanh_{tag}", lambda a: tf.math.tanh(a), [spec(1, 256)], [(lo, hi)], n_runs=2)


def gen_mean(out):
    run_case(out, "mean_hw", lambda a: tf.reduce_mean(a, axis=[1, 2], keepdims=True),
             [spec(1, 5, 5, 8)], [(-3, 5)], extra={"axes": "1 2"}, n_runs=3)
    run_case(out, "mean_hw_big", lambda a: tf.reduce_mean(a, axis=[1, 2], keepdims=True),
             [spec(2, 7, 6, 4)], [(-1, 1)], extra={"axes": "1 2"}, n_runs=2)
    run_case(out, "mean_c", lambda a: tf.reduce_mean(a, axis=[3], keepdims=True),
             [spec(1, 3, 4, 6)], [(-3, 5)], extra={"axes": "3"}, n_runs=2)
    run_case(out, "mean_w", lambda a: tf.reduce_mean(a, axis=[2], keepdims=True),
             [spec(1, 3, 4, 6)], [(-3, 5)], extra={"axes": "2"}, n_runs=2)
    run_case(out, "mean_c_same", lambda a: tf.reduce_mean(a, axis=[3], keepdims=True),
             [spec(1, 3, 4, 6)], [(-3, 5)], extra={"axes": "3"}, n_runs=2, same_quant=True)
    run_case(out, "mean_hw_nokeep", lambda a: tf.reduce_mean(a, axis=[1, 2], keepdims=False),
             [spec(1, 5, 5, 8)], [(-3, 5)], extra={"axes": "1 2", "keep_dims": "0"}, n_runs=2)
    run_case(out, "mean_hw_nokeep_same",
             lambda a: tf.reduce_mean(a, axis=[1, 2], keepdims=False),
             [spec(1, 5, 5, 8)], [(-3, 5)], extra={"axes": "1 2", "keep_dims": "0"}, n_runs=2,
             same_quant=True)


def gen_relu(out):
    run_case(out, "relu", lambda a: tf.nn.relu(a), [spec(1, 4, 4, 4)], [(-3, 5)], n_runs=2)
    run_case(out, "relu6", lambda a: tf.nn.relu6(a), [spec(1, 4, 4, 4)], [(-3, 9)], n_runs=2)


def gen_movement(out):
    run_case(out, "pad_hw", lambda a: tf.pad(a, [[0, 0], [1, 2], [2, 0], [0, 0]]),
             [spec(1, 3, 3, 4)], [(-1, 3)], extra={"pads": "0 0 1 2 2 0 0 0"}, n_runs=1)
    run_case(out, "pad_c", lambda a: tf.pad(a, [[0, 0], [0, 0], [0, 0], [1, 3]]),
             [spec(1, 2, 2, 3)], [(-2, 2)], extra={"pads": "0 0 0 0 0 0 1 3"}, n_runs=1)
    run_case(out, "concat_c", lambda a, b: tf.concat([a, b], axis=3),
             [spec(1, 2, 3, 4), spec(1, 2, 3, 2)], [(-1, 1), (-1, 1)], extra={"axis": "3"})
    run_case(out, "concat_h", lambda a, b: tf.concat([a, b], axis=1),
             [spec(1, 2, 3, 4), spec(1, 1, 3, 4)], [(-2, 1), (-2, 1)], extra={"axis": "1"})


def gen_quantize(out):
    run_case(out, "quantize", lambda a: tf.reshape(a, [4, 16]), [spec(1, 64)], [(-3, 5)],
             n_runs=2, mode="quantize")
    run_case(out, "dequantize", lambda a: tf.reshape(a, [4, 16]), [spec(1, 64)], [(-3, 5)],
             n_runs=2, mode="dequantize")


def gen_requantize(out):
    int8, int16 = 9, 7  # schema TensorType values
    reshape = lambda a: tf.reshape(a, [4, 16])  # noqa: E731
    run_case(out, "requant_s8_s8", reshape, [spec(1, 64)], [(-3, 5)], n_runs=2, mode="quantize",
             rewrite=lambda m: requantize_model(m, int8, 0.0517, 7))
    run_case(out, "requant_s8_s8_up", reshape, [spec(1, 64)], [(-3, 5)], n_runs=2,
             mode="quantize", rewrite=lambda m: requantize_model(m, int8, 0.0041, -100))
    run_case(out, "requant_s8_s16", reshape, [spec(1, 64)], [(-3, 5)], n_runs=2,
             mode="quantize",
             rewrite=lambda m: requantize_model(m, int8, 0.0517, 7, int16, 0.00013, 0))
    run_case(out, "requant_s16_s8", reshape, [spec(1, 64)], [(-3, 5)], n_runs=2,
             mode="quantize", rewrite=lambda m: requantize_model(m, int16, 0.00021, 0))


def gen_int16(out):
    run_case(out, "add16_same", lambda a, b: a + b, [spec(1, 4, 4, 3), spec(1, 4, 4, 3)],
             [(-3, 2), (-0.5, 1.5)], n_runs=2, mode="int16")
    run_case(out, "add16_bcast", lambda a, b: a + b, [spec(1, 4, 4, 3), spec(1, 1, 1, 3)],
             [(-1, 1), (-4, 4)], n_runs=2, mode="int16")
    run_case(out, "mul16_same", lambda a, b: a * b, [spec(1, 4, 4, 3), spec(1, 4, 4, 3)],
             [(-3, 2), (-0.5, 1.5)], n_runs=2, mode="int16")
    run_case(out, "mean16_hw", lambda a: tf.reduce_mean(a, axis=[1, 2], keepdims=True),
             [spec(1, 5, 5, 8)], [(-3, 5)], extra={"axes": "1 2"}, n_runs=2, mode="int16")


def gen_float(out):
    run_case(out, "f_softmax", lambda a: tf.nn.softmax(a), [spec(3, 17)], [(-10, 10)],
             n_runs=2, mode="float")
    run_case(out, "f_logistic", lambda a: tf.math.sigmoid(a), [spec(1, 256)], [(-20, 20)],
             n_runs=2, mode="float")
    run_case(out, "f_tanh", lambda a: tf.math.tanh(a), [spec(1, 256)], [(-6, 6)],
             n_runs=2, mode="float")
    run_case(out, "f_mean_hw", lambda a: tf.reduce_mean(a, axis=[1, 2], keepdims=True),
             [spec(1, 5, 5, 8)], [(-3, 5)], extra={"axes": "1 2"}, n_runs=1, mode="float")
    run_case(out, "f_add_relu6", lambda a, b: tf.nn.relu6(a + b),
             [spec(1, 4, 4, 3), spec(1, 1, 1, 3)], [(-4, 4), (-4, 4)], n_runs=1, mode="float")


def main():
    outdir = sys.argv[1]
    gens = {
        "add": gen_add,
        "mul": gen_mul,
        "softmax": gen_softmax,
        "logistic_tanh": gen_logistic_tanh,
        "mean": gen_mean,
        "relu": gen_relu,
        "movement": gen_movement,
        "quantize": gen_quantize,
        "int16": gen_int16,
        "requantize": gen_requantize,
        "float": gen_float,
    }
    only = sys.argv[2:] or list(gens)
    for name in only:
        with open(os.path.join(outdir, f"{name}.txt"), "w") as f:
            gens[name](f)


if __name__ == "__main__":
    main()
