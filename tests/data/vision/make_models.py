"""Writes the tiny ONNX models the vision tests load (run once; the outputs are committed).

    .tools/venv-ref/bin/python tests/data/vision/make_models.py

Each model averages the image per channel and maps the three means to class scores, so it runs in
microseconds and its output depends on the picture. They exist to test loading and checking, not to
classify anything:
  tiny64.onnx     image [N,3,64,64] -> probs [N,5] softmax     (a valid model with a non-224 input)
  tiny64_logits.onnx  same, without the softmax                 (output is not a distribution)
  three_class.onnx    image [N,3,H,W] -> probs [N,3] softmax    (wrong number of classes for 5 labels)
  slow64.onnx     like tiny64, plus a Loop of MatMuls of 192x192 matrices whose result is added
                  (times 0) to the logits. It runs max|pixel - 0.5| * 10 000 000 times: no time on the
                  warm-up's uniform 0.5 picture, many minutes on any real frame on any CPU, so the
                  vision watchdog has a stuck inference to find (tests/e2e_stages.rs)
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))


def model(name, h, w, classes, softmax):
    rng = np.random.default_rng(len(name))
    weight = numpy_helper.from_array((rng.standard_normal((3, classes)) * 4).astype(np.float32), "W")
    bias = numpy_helper.from_array(np.linspace(0.5, -0.5, classes).astype(np.float32), "B")
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["means"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["means", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "B"], ["logits" if softmax else "probs"]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["probs"], axis=1))
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, h, w])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", classes])],
        initializer=[weight, bias],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="layerwatch-tests")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(HERE, name + ".onnx"))


def slow_model(name, h, w, classes, iterations, size):
    rng = np.random.default_rng(7)
    weight = numpy_helper.from_array((rng.standard_normal((3, classes)) * 4).astype(np.float32), "W")
    bias = numpy_helper.from_array(np.linspace(0.5, -0.5, classes).astype(np.float32), "B")
    spin = numpy_helper.from_array((rng.standard_normal((size, size)) / size).astype(np.float32), "S")
    scale = numpy_helper.from_array(np.array(iterations, dtype=np.float32), "scale")
    half = numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half")
    cond = numpy_helper.from_array(np.array(True), "cond")
    zero = numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")
    shape = numpy_helper.from_array(np.array([size, size], dtype=np.int64), "shape")
    # The loop body: state <- tanh(state @ S); S comes from the outer scope.
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("MatMul", ["state_in", "S"], ["prod"]),
            helper.make_node("Tanh", ["prod"], ["state_out"]),
        ],
        "spin",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("state_in", TensorProto.FLOAT, [size, size]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [size, size]),
        ],
    )
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["means"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["means", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "B"], ["logits0"]),
        # How long it spins depends on the picture: 0 for the warm-up's uniform 0.5.
        helper.make_node("Sub", ["image", "half"], ["centred"]),
        helper.make_node("Abs", ["centred"], ["spread"]),
        helper.make_node("ReduceMax", ["spread"], ["peak"], keepdims=0),
        helper.make_node("Mul", ["peak", "scale"], ["tripsf"]),
        helper.make_node("Cast", ["tripsf"], ["trips"], to=TensorProto.INT64),
        # The loop's start depends on the picture too, so nothing can be folded away.
        helper.make_node("ReduceMean", ["image"], ["grey"], keepdims=0),
        helper.make_node("Expand", ["grey", "shape"], ["state0"]),
        helper.make_node("Loop", ["trips", "cond", "state0"], ["state"], body=body),
        helper.make_node("ReduceSum", ["state"], ["spun"], keepdims=0),
        helper.make_node("Mul", ["spun", "zero"], ["nothing"]),
        helper.make_node("Add", ["logits0", "nothing"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, h, w])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", classes])],
        initializer=[weight, bias, spin, scale, half, cond, zero, shape],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="layerwatch-tests")
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(HERE, name + ".onnx"))


model("tiny64", 64, 64, 5, True)
model("tiny64_logits", 64, 64, 5, False)
model("three_class", "H", "W", 3, True)
slow_model("slow64", 64, 64, 5, 10_000_000, 192)

# The image fixtures beside these models were made once as well:
#   empty.jpg      0 bytes
#   truncated.jpg  the first 60 % of a 320x240 synthetic JPEG (gradient and a disc, quality 85): libjpeg
#                  decodes it with a warning into a grey-filled picture; layerwatch must refuse it.
