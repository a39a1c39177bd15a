"""Writes the tiny ONNX models the vision tests load (run once; the outputs are committed).

    .tools/venv-ref/bin/python tests/data/vision/make_models.py

Each model averages the image per channel and maps the three means to class scores, so it runs in
microseconds and its output depends on the picture. They exist to test loading and checking, not to
classify anything:
  tiny64.onnx     image [N,3,64,64] -> probs [N,5] softmax     (a valid model with a non-224 input)
  tiny64_logits.onnx  same, without the softmax                 (output is not a distribution)
  three_class.onnx    image [N,3,H,W] -> probs [N,3] softmax    (wrong number of classes for 5 labels)
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


model("tiny64", 64, 64, 5, True)
model("tiny64_logits", 64, 64, 5, False)
model("three_class", "H", "W", 3, True)

# The image fixtures beside these models were made once as well:
#   empty.jpg      0 bytes
#   truncated.jpg  the first 60 % of a 320x240 synthetic JPEG (gradient and a disc, quality 85): libjpeg
#                  decodes it with a warning into a grey-filled picture; layerwatch must refuse it.
