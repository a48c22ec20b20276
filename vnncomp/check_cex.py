#!/usr/bin/env python3
"""Checks a VNN-COMP counterexample (the lines after `sat` in a result file, on stdin).

    check_cex.py ONNX VNNLIB < counterexample

Checks the format (`((X_0 v)` ... `(Y_m v))`, inputs X_0.. then outputs Y_0.., each once and
in order), that every input lies inside the bounds the VNN-LIB file puts on it (plain
`(assert (<= X_i c))` / `(assert (>= X_i c))` lines; properties with `or` over inputs are only
format-checked), and, when onnxruntime is installed, that the network's float32 outputs on the
inputs match the reported ones (1e-4 relative). Exit code 0 when all pass.
"""

import gzip
import re
import sys


def read(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return f.read()


def main():
    onnx_path, vnnlib_path = sys.argv[1], sys.argv[2]
    text = sys.stdin.read()
    pairs = re.findall(r"\(\s*([XY])_(\d+)\s+([-+0-9.eE]+|[-+]?inf|nan)\s*\)", text)
    xs = [(int(i), float(v)) for k, i, v in pairs if k == "X"]
    ys = [(int(i), float(v)) for k, i, v in pairs if k == "Y"]
    if not text.strip().startswith("((") or not text.strip().endswith("))"):
        sys.exit("not wrapped in `(( ... ))`")
    if [i for i, _ in xs] != list(range(len(xs))) or [i for i, _ in ys] != list(range(len(ys))):
        sys.exit("variables not X_0.. then Y_0.. in order")
    if [k for k, _, _ in pairs] != ["X"] * len(xs) + ["Y"] * len(ys):
        sys.exit("outputs before inputs")
    prop = read(vnnlib_path).decode()
    if "(or" not in prop.replace(" ", "").replace("\n", "") or "X_" not in prop.split("(or")[1]:
        for op, i, c in re.findall(r"\(assert\s*\((<=|>=)\s*X_(\d+)\s+([-+0-9.eE]+)\s*\)\s*\)", prop):
            v, c = xs[int(i)][1], float(c)
            if (op == "<=" and v > c) or (op == ">=" and v < c):
                sys.exit(f"X_{i} = {v} violates {op} {c}")
    try:
        import numpy as np
        import onnx
        import onnxruntime as ort
    except ImportError:
        print("note: onnxruntime not installed; outputs not replayed", file=sys.stderr)
        return
    ort.set_default_logger_severity(3)
    model = onnx.load_from_string(read(onnx_path))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    x = np.array([v for _, v in xs], dtype=np.float32).reshape(shape)
    (out,) = sess.run(None, {inp.name: x})
    got = out.ravel().astype(np.float64)
    want = np.array([v for _, v in ys])
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4, atol=1e-6):
        sys.exit(f"onnxruntime computes {got.tolist()}, the counterexample says {want.tolist()}")


if __name__ == "__main__":
    main()
