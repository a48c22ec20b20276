#!/usr/bin/env python3
"""Differential check of certus against the shared benchmarks' known answers (issue 15 item 6).

Every instance of every benchmark folder (`instances.csv`, `expected.csv`) is run through
`certus verify --engine E` for every engine, at the instance's timeout times `--timeout-scale`.
A *wrong* answer is `sat` where `unsat` is expected or the reverse. Every `sat` is replayed by an
independent evaluator: the counterexample's inputs are run through onnxruntime (float32, as
VNN-COMP's judge does) and every `assert` of the `.vnnlib` file is evaluated on those inputs (as
printed) and onnxruntime's outputs, with no tolerance (a small interpreter of the file's s-expressions, not
certus's parser). A `sat` whose replay fails counts as wrong too.

    python3 benchmarks/differential.py --timeout-scale 0.02                # everything
    python3 benchmarks/differential.py --bench acasxu --engines crown,smt --limit 20

Needs `onnxruntime` and `numpy` (not needed by `cargo test`). Prints one line per run (with -v)
and a table per benchmark and engine; exits 1 when anything is wrong, 0 otherwise.
"""

import argparse
import csv
import gzip
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort

ENGINES = ["interval", "dual", "crown", "alpha", "lp", "smt", "dlv", "input-split", "relu-split", "auto"]
HERE = os.path.dirname(os.path.abspath(__file__))


def read_text(path):
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    if path.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return f.read()
    with open(path, encoding="utf-8") as f:
        return f.read()


def sexprs(text):
    """The file's top-level s-expressions as nested lists of atoms (comments dropped)."""
    out, stack, tok = [], [[]], ""
    i = 0
    while i < len(text):
        c = text[i]
        if c == ";":
            while i < len(text) and text[i] != "\n":
                i += 1
            continue
        if c in "() \t\r\n":
            if tok:
                stack[-1].append(tok)
                tok = ""
            if c == "(":
                stack.append([])
            elif c == ")":
                done = stack.pop()
                stack[-1].append(done)
        else:
            tok += c
        i += 1
    out = stack[0]
    return out


def value(term, env):
    """A term's value: a number, a declared variable, or +, -, * over terms."""
    if isinstance(term, str):
        if term in env:
            return env[term]
        return float(term)
    op, args = term[0], [value(a, env) for a in term[1:]]
    if op == "+":
        return sum(args)
    if op == "-":
        return -args[0] if len(args) == 1 else args[0] - sum(args[1:])
    if op == "*":
        p = 1.0
        for a in args:
            p *= a
        return p
    raise ValueError(f"unknown term operator {op}")


def holds(f, env):
    """Evaluates a boolean formula of the file exactly on the assignment `env`."""
    op = f[0]
    if op == "and":
        return all(holds(g, env) for g in f[1:])
    if op == "or":
        return any(holds(g, env) for g in f[1:])
    if op == "not":
        return not holds(f[1], env)
    a, b = value(f[1], env), value(f[2], env)
    return {"<=": a <= b, ">=": a >= b, "<": a < b, ">": a > b, "=": a == b}[op]


def parse_cex(text):
    """The VNN-COMP counterexample text `((X_0 v) (X_1 v) ... (Y_0 v))` as two lists."""
    xs, ys = {}, {}
    for item in sexprs(text)[0]:
        name, v = item[0], float(item[1])
        (xs if name.startswith("X_") else ys)[int(name[2:])] = v
    return [xs[i] for i in range(len(xs))], [ys[i] for i in range(len(ys))]


class Replayer:
    """onnxruntime sessions, one per network, single-threaded like VNN-COMP's judge."""

    def __init__(self):
        self.sessions = {}

    def run(self, onnx_path, x):
        if onnx_path not in self.sessions:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            data = read_text_bytes(onnx_path)
            self.sessions[onnx_path] = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        s = self.sessions[onnx_path]
        inp = s.get_inputs()[0]
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
        dtype = np.float64 if "double" in inp.type else np.float32
        y = s.run(None, {inp.name: np.array(x, dtype=dtype).reshape(shape)})[0]
        return [float(v) for v in np.asarray(y).flatten()]


def read_text_bytes(path):
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path += ".gz"
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def replay(replayer, onnx_path, vnnlib_path, cex_text):
    """(ok, why): the counterexample replays in onnxruntime and meets every assert exactly."""
    try:
        x, _ = parse_cex(cex_text)
    except Exception as e:  # noqa: BLE001 - a malformed counterexample is a failure
        return False, f"malformed counterexample: {e}"
    y = replayer.run(onnx_path, x)
    # The input constraints are checked on the values as printed, the output constraints on
    # onnxruntime's outputs for them (it rounds the inputs to the model's type). VNN-COMP's judge
    # does the same, with a tolerance of 1e-4 on the box; no tolerance here. Checking the rounded
    # inputs instead rejected every counterexample of a box that holds no f32 point (collins_rul_cnn's
    # degenerate boxes at decimals like -0.4173967448076117).
    env = {f"X_{i}": v for i, v in enumerate(x)}
    env.update({f"Y_{i}": v for i, v in enumerate(y)})
    for s in sexprs(read_text(vnnlib_path)):
        if s and s[0] == "assert" and not holds(s[1], env):
            return False, f"assert {s[1]!r} fails on onnxruntime's output {y[:10]}"
    return True, ""


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmarks", default=os.path.join(HERE, "..", "..", "shared", "benchmarks"))
    p.add_argument("--bench", default="", help="comma-separated benchmark folders (default: all)")
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--timeout-scale", type=float, default=0.02)
    p.add_argument("--min-timeout", type=float, default=1.0)
    p.add_argument("--limit", type=int, default=0, help="at most this many instances per benchmark")
    p.add_argument("--stride", type=int, default=1, help="every k-th instance (a spread-out subset)")
    p.add_argument("--certus", default=os.path.join(HERE, "..", "target", "release", "certus"))
    p.add_argument("--jobs", default="1", help="certus --jobs")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args()

    root = os.path.abspath(a.benchmarks)
    benches = a.bench.split(",") if a.bench else sorted(
        d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "instances.csv")))
    engines = a.engines.split(",")
    replayer = Replayer()
    wrong_total, runs_total, t0 = 0, 0, time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for b in benches:
            folder = os.path.join(root, b)
            with open(os.path.join(folder, "instances.csv")) as f:
                rows = [r for r in csv.reader(f) if r]
            with open(os.path.join(folder, "expected.csv")) as f:
                expected = [r["expected"] for r in csv.DictReader(f)]
            picked = list(range(0, len(rows), a.stride))
            if a.limit:
                picked = picked[: a.limit]
            for e in engines:
                counts = {k: 0 for k in ["sat", "unsat", "unknown", "timeout", "error", "wrong", "replayed"]}
                for i in picked:
                    onnx, vnnlib, timeout = rows[i][0], rows[i][1], float(rows[i][2])
                    onnx, vnnlib = os.path.join(folder, onnx), os.path.join(folder, vnnlib)
                    t = max(a.min_timeout, timeout * a.timeout_scale)
                    res = os.path.join(tmp, "result.txt")
                    if os.path.exists(res):
                        os.remove(res)
                    cmd = [a.certus, "verify", onnx, vnnlib, "--engine", e, "--timeout", f"{t:g}",
                           "--result-file", res, "--jobs", a.jobs]
                    try:
                        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       timeout=t + 30, check=False)
                        text = open(res).read() if os.path.exists(res) else "error\n"
                    except subprocess.TimeoutExpired:
                        text = "error\n(certus overran its timeout by 30 s)"
                    word = text.split("\n", 1)[0].strip()
                    word = word if word in counts else "error"
                    counts[word] += 1
                    bad = ""
                    if word in ("sat", "unsat") and expected[i] in ("sat", "unsat") and word != expected[i]:
                        bad = f"answered {word}, expected {expected[i]}"
                    if word == "sat":
                        ok, why = replay(replayer, onnx, vnnlib, text.split("\n", 1)[1])
                        if ok:
                            counts["replayed"] += 1
                        else:
                            bad = (bad + "; " if bad else "") + "onnxruntime replay fails: " + why
                    if bad:
                        counts["wrong"] += 1
                        print(f"WRONG {b} {e} {os.path.basename(onnx)} {os.path.basename(vnnlib)}: {bad}",
                              flush=True)
                    elif a.verbose:
                        print(f"{b} {e} {os.path.basename(onnx)} {os.path.basename(vnnlib)}: {word} "
                              f"(expected {expected[i]})", flush=True)
                runs_total += len(picked)
                wrong_total += counts["wrong"]
                print(f"{b:16} {e:9} n={len(picked):4} " + " ".join(f"{k}={v}" for k, v in counts.items()),
                      flush=True)
    print(f"{runs_total} runs in {time.time() - t0:.0f} s, {wrong_total} wrong")
    return 1 if wrong_total else 0


if __name__ == "__main__":
    sys.exit(main())
