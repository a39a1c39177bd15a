#!/usr/bin/env python3
"""Python reference for layerwatch's frame path: the same work with OpenCV + onnxruntime.

Run with the reference venv: `.tools/venv-ref/bin/python scripts/bench_reference.py ...`

  scores  --model models/classifier.toml [--decode full|reduced] [--roi x,y,w,h] IMAGE...
          One JSON object per image: {"path", "failure", "probs": [...]}. `full` decodes at full size and
          resizes like training/common.py (stretch, INTER_AREA when shrinking, else INTER_LINEAR): the
          training-side truth. `reduced` also uses libjpeg's scaled decoding with the factor rule of
          src/vision/preprocess.rs (the Rust fast path), to separate decoder effects from resize effects.
  bench   --model models/classifier.toml --frames DIR [--seconds S] [--decode full|reduced]
          Scores every JPEG in DIR round-robin, one thread (cv2.setNumThreads(1), onnxruntime 1 intra-op /
          1 inter-op thread, ORT_ENABLE_ALL), and prints frames/s, p50/p99 latency and the per-stage
          breakdown (decode, resize + tensor, inference) as text and one JSON line.
"""
import argparse
import glob
import json
import statistics
import os
import sys
import time
import tomllib

import cv2
import numpy as np
import onnxruntime as ort

cv2.setNumThreads(1)


def load_model(path):
    """(session, spec) from a classifier.toml (or an .onnx with its .toml beside it)."""
    if path.endswith(".onnx"):
        path = path[: -len(".onnx")] + ".toml"
    with open(path, "rb") as f:
        spec = tomllib.load(f)
    onnx_path = os.path.join(os.path.dirname(os.path.abspath(path)), spec["onnx"])
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    return sess, spec


def jpeg_size(data):
    """(width, height) from the first SOF marker, or None."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        m = data[i + 1]
        if m == 0xFF:
            i += 1
            continue
        if m in (0xD8, 0x01) or 0xD0 <= m <= 0xD7:
            i += 2
            continue
        seg = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        i += 2 + seg
    return None


def reduction(size, roi, target):
    """Same rule as preprocess.rs::scaled_decode_factor."""
    fw, fh = (roi[2], roi[3]) if roi else (1.0, 1.0)
    short = min(size[0] * fw, size[1] * fh)
    need = max(target)
    for f in (8, 4, 2):
        if short // f >= need:
            return f
    return 1


FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def decode(data, spec, roi, mode):
    factor = 1
    if mode == "reduced":
        size = jpeg_size(data)
        if size:
            factor = reduction(size, roi, (spec["input_width"], spec["input_height"]))
    img = cv2.imdecode(np.frombuffer(data, np.uint8), FLAGS[factor])
    if img is None:
        raise ValueError("cannot decode")
    return img


def roi_crop(img, roi):
    if not roi:
        return img
    h, w = img.shape[:2]

    def edge(frac, n):
        return min(max(int(np.floor(frac * n + 0.5)), 0), n)

    x0, y0 = min(edge(roi[0], w), w - 1), min(edge(roi[1], h), h - 1)
    x1, y1 = max(edge(roi[0] + roi[2], w), x0 + 1), max(edge(roi[1] + roi[3], h), y0 + 1)
    return img[y0:y1, x0:x1]


def to_tensor(bgr, spec, roi):
    """BGR uint8 -> [1,3,H,W] RGB/255: training/common.py's stretch_resize + to_tensor."""
    img = cv2.cvtColor(roi_crop(bgr, roi), cv2.COLOR_BGR2RGB)
    W, H = spec["input_width"], spec["input_height"]
    h, w = img.shape[:2]
    interp = cv2.INTER_AREA if (w >= W and h >= H) else cv2.INTER_LINEAR
    img = cv2.resize(img, (W, H), interpolation=interp)
    return (img.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]


def infer(sess, spec, x):
    return sess.run([spec["output_name"]], {spec["input_name"]: x})[0][0]


def parse_roi(s):
    return [float(v) for v in s.split(",")] if s else None


def cmd_scores(a):
    sess, spec = load_model(a.model)
    roi = parse_roi(a.roi)
    normal = spec["labels"].index(spec["normal_label"])
    for path in a.images:
        with open(path, "rb") as f:
            data = f.read()
        probs = infer(sess, spec, to_tensor(decode(data, spec, roi, a.decode), spec, roi))
        print(json.dumps({"path": path, "failure": float(1.0 - probs[normal]), "probs": [float(p) for p in probs]}))


def cmd_bench(a):
    sess, spec = load_model(a.model)
    files = sorted(glob.glob(os.path.join(a.frames, "*.jpg")))
    if not files:
        sys.exit(f"no .jpg frames in {a.frames}")
    frames = [open(p, "rb").read() for p in files]
    for data in frames[:5]:  # warm-up
        infer(sess, spec, to_tensor(decode(data, spec, None, a.decode), spec, None))
    total, cpu_total, dec, pre, inf = [], [], [], [], []
    deadline = time.perf_counter() + a.seconds
    i = 0
    clock = time.thread_time  # CPU time of this thread: all the work runs here with one thread each
    while time.perf_counter() < deadline or i < len(frames):
        data = frames[i % len(frames)]
        t0, c0 = time.perf_counter(), clock()
        bgr = decode(data, spec, None, a.decode)
        c1 = clock()
        x = to_tensor(bgr, spec, None)
        c2 = clock()
        infer(sess, spec, x)
        c3 = clock()
        total.append(time.perf_counter() - t0)
        cpu_total.append(c3 - c0)
        dec.append(c1 - c0)
        pre.append(c2 - c1)
        inf.append(c3 - c2)
        i += 1
    ms = lambda v: 1e3 * v  # noqa: E731
    total.sort()
    cpu_sorted = sorted(cpu_total)
    pct = lambda v, q: v[min(len(v) - 1, int(q * len(v)))]  # noqa: E731
    res = {
        "impl": "python",
        "decode_mode": a.decode,
        "frames": len(total),
        "fps": len(total) / sum(total),
        "fps_cpu": len(total) / sum(cpu_total),
        "p50_ms": ms(pct(total, 0.5)),
        "p99_ms": ms(pct(total, 0.99)),
        "cpu_p50_ms": ms(pct(cpu_sorted, 0.5)),
        "cpu_p99_ms": ms(pct(cpu_sorted, 0.99)),
        "decode_ms": ms(statistics.fmean(dec)),
        "resize_tensor_ms": ms(statistics.fmean(pre)),
        "inference_ms": ms(statistics.fmean(inf)),
        "frame_size": list(cv2.imdecode(np.frombuffer(frames[0], np.uint8), cv2.IMREAD_COLOR).shape[1::-1]),
        "onnxruntime": ort.__version__,
        "opencv": cv2.__version__,
    }
    print(
        f"python ({a.decode} decode): {res['fps']:.1f} frames/s wall, {res['fps_cpu']:.1f} per CPU-second | "
        f"wall p50 {res['p50_ms']:.2f} ms p99 {res['p99_ms']:.2f} ms | CPU p50 {res['cpu_p50_ms']:.2f} ms "
        f"p99 {res['cpu_p99_ms']:.2f} ms | CPU per stage: decode {res['decode_ms']:.2f} ms, resize+tensor "
        f"{res['resize_tensor_ms']:.2f} ms, inference {res['inference_ms']:.2f} ms ({res['frames']} frames)"
    )
    print(json.dumps(res))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("scores")
    s.add_argument("--model", required=True)
    s.add_argument("--decode", choices=["full", "reduced"], default="full")
    s.add_argument("--roi")
    s.add_argument("images", nargs="+")
    b = sub.add_parser("bench")
    b.add_argument("--model", required=True)
    b.add_argument("--frames", required=True)
    b.add_argument("--seconds", type=float, default=10.0)
    b.add_argument("--decode", choices=["full", "reduced"], default="full")
    a = ap.parse_args()
    {"scores": cmd_scores, "bench": cmd_bench}[a.cmd](a)


if __name__ == "__main__":
    main()
