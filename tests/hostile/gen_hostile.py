#!/usr/bin/env python3
"""Writes the hostile ONNX models of the corpus that `tests/hostile.rs` feeds to `certus`.

Each model is broken on purpose (or legal but strange); none is checked by onnx.checker.
Deterministic. Run from anywhere (needs `onnx` and `numpy`):

    python3 tests/hostile/gen_hostile.py
"""

import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
F = TensorProto.FLOAT


def const(name, arr):
    return numpy_helper.from_array(np.asarray(arr, dtype=np.float32), name)


def save(name, nodes, x_shape, y_shape, inits=(), opset=13, outputs=None, inputs=None):
    x = helper.make_tensor_value_info("x", F, x_shape)
    y = helper.make_tensor_value_info("y", F, y_shape)
    graph = helper.make_graph(
        nodes,
        name,
        inputs if inputs is not None else [x],
        outputs if outputs is not None else [y],
        initializer=list(inits),
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    m.producer_name = "certus gen_hostile.py"
    with open(os.path.join(HERE, name + ".onnx"), "wb") as f:
        f.write(m.SerializeToString())


def gemm(w="W", b="B", x="x", y="y", name="fc"):
    return helper.make_node("Gemm", [x, w, b], [y], name=name, transB=1)


W = [[1.0, -1.0], [0.5, 2.0]]
B = [0.0, 1.0]


def main():
    # Raw data shorter than the declared dims (2×2 floats need 16 bytes, 12 given).
    w = const("W", W)
    w.raw_data = w.raw_data[:12]
    save("onnx_raw_data_too_short", [gemm()], [1, 2], [1, 2], [w, const("B", B)])
    # Typed data of the wrong length (3 values for a 2×2 tensor).
    w = helper.make_tensor("W", F, [3], [1.0, 2.0, 3.0])
    w.dims[:] = [2, 2]
    save("onnx_typed_data_wrong_length", [gemm()], [1, 2], [1, 2], [w, const("B", B)])
    # An infinite weight, and a NaN bias.
    save("onnx_inf_weight", [gemm()], [1, 2], [1, 2],
         [const("W", [[np.inf, 1.0], [0.0, 1.0]]), const("B", B)])
    save("onnx_nan_bias", [gemm()], [1, 2], [1, 2], [const("W", W), const("B", [0.0, np.nan])])
    # A cycle: a = x + r, r = relu(a).
    save("onnx_cycle",
         [helper.make_node("Add", ["x", "r"], ["a"], name="add"),
          helper.make_node("Relu", ["a"], ["r"], name="relu"),
          helper.make_node("Identity", ["r"], ["y"], name="out")],
         [1, 2], [1, 2])
    # A node reading a tensor nothing produces.
    save("onnx_dangling_input",
         [helper.make_node("Add", ["x", "ghost"], ["y"], name="add")], [1, 2], [1, 2])
    # An output nothing produces.
    save("onnx_missing_output", [helper.make_node("Relu", ["x"], ["r"], name="relu")],
         [1, 2], [1, 2])
    # Two nodes writing the same tensor.
    save("onnx_tensor_written_twice",
         [helper.make_node("Relu", ["x"], ["y"], name="relu1"),
          helper.make_node("Neg", ["x"], ["y"], name="neg")], [1, 2], [1, 2])
    # A 10^12-element input (must not be allocated).
    save("onnx_huge_input", [helper.make_node("Relu", ["x"], ["y"], name="relu")],
         [1000000, 1000000], [1000000, 1000000])
    # A 10^12-element weight declared with no data, and one whose dims multiply past 2^64.
    big = helper.make_tensor("W", F, [0], [])
    big.dims[:] = [1000000, 1000000]
    save("onnx_huge_initializer", [helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")],
         [1, 1000000], [1, 1000000], [big])
    big = helper.make_tensor("W", F, [0], [])
    big.dims[:] = [4294967296, 4294967296, 16]
    save("onnx_overflowing_dims", [helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")],
         [1, 2], [1, 2], [big])
    # A negative dimension.
    save("onnx_negative_dim", [helper.make_node("Relu", ["x"], ["y"], name="relu")],
         [1, -5], [1, -5])
    # ConstantOfShape asking for 10^12 elements.
    shape = numpy_helper.from_array(np.array([1000000, 1000000], dtype=np.int64), "S")
    save("onnx_constant_of_huge_shape",
         [helper.make_node("ConstantOfShape", ["S"], ["c"], name="cos"),
          helper.make_node("Add", ["x", "c"], ["y"], name="add")],
         [1, 2], [1, 2], [shape])
    # Conv with a zero stride, and with a dilation that overflows the kernel span.
    cw = const("CW", np.ones((1, 1, 2, 2)))
    cb = const("CB", [0.0])
    save("onnx_conv_zero_stride",
         [helper.make_node("Conv", ["x", "CW", "CB"], ["y"], name="conv", strides=[0, 1])],
         [1, 1, 4, 4], [1, 1, 3, 3], [cw, cb])
    save("onnx_conv_huge_dilation",
         [helper.make_node("Conv", ["x", "CW", "CB"], ["y"], name="conv",
                           dilations=[4611686018427387904, 1])],
         [1, 1, 4, 4], [1, 1, 3, 3], [cw, cb])
    # Reshape to a shape with two -1s, and to one of the wrong size.
    for name, target in (("onnx_reshape_two_wildcards", [-1, -1]),
                         ("onnx_reshape_wrong_size", [1, 7])):
        s = numpy_helper.from_array(np.array(target, dtype=np.int64), "S")
        save(name, [helper.make_node("Reshape", ["x", "S"], ["y"], name="reshape")],
             [1, 6], [1, 6], [s])
    # An opset far beyond what certus reads.
    save("onnx_opset_99", [helper.make_node("Relu", ["x"], ["y"], name="relu")],
         [1, 2], [1, 2], opset=99)
    # A graph with no input (a constant network).
    save("onnx_no_input", [helper.make_node("Constant", [], ["y"], name="c",
                                            value=const("v", [1.0, 2.0]))],
         [1, 2], [1, 2], inputs=[])
    # Legal: no nodes at all, the output is the input (y = x). The corpus gives it a property.
    x = helper.make_tensor_value_info("x", F, [1, 2])
    graph = helper.make_graph([], "identity", [x], [x])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    with open(os.path.join(HERE, "onnx_no_nodes.onnx"), "wb") as f:
        f.write(m.SerializeToString())
    # Legal: a chain of 2000 ReLUs (deep graphs must not overflow the stack).
    nodes = [helper.make_node("Relu", ["x" if k == 0 else f"r{k - 1}"],
                              ["y" if k == 1999 else f"r{k}"], name=f"relu{k}")
             for k in range(2000)]
    save("onnx_deep_chain", nodes, [1, 2], [1, 2])


if __name__ == "__main__":
    main()
