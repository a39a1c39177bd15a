"""Single-thread onnxruntime latency of a classifier ONNX at batch 1 (median over --runs after warm-up).

Reports wall-clock latency and the CPU time of the calling thread (with 1 intra-op thread onnxruntime computes
on the caller's thread): on a machine shared with other jobs, the CPU time stays close to the uncontended
latency while the wall clock includes time-sharing waits. Compare `uptime` before trusting wall numbers."""
import argparse
import statistics
import time

import numpy as np
import onnxruntime as ort


def bench(path, runs=300, warmup=30, size=None):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    shape = sess.get_inputs()[0].shape
    h = size or shape[2]
    w = size or shape[3]
    x = np.random.default_rng(0).random((1, 3, h, w), dtype=np.float32)
    for _ in range(warmup):
        sess.run(["probs"], {"image": x})
    times, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.thread_time()
        sess.run(["probs"], {"image": x})
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.thread_time() - c0) * 1e3)
    times.sort()
    return {"median_ms": statistics.median(times), "p90_ms": times[int(0.9 * len(times))],
            "min_ms": times[0], "cpu_median_ms": statistics.median(cpu), "runs": runs, "input": [1, 3, h, w],
            "onnxruntime": ort.__version__}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("onnx", nargs="+")
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    args = ap.parse_args()
    for p in args.onnx:
        r = bench(p, args.runs, args.warmup)
        print(f"{p}: median {r['median_ms']:.2f} ms, p90 {r['p90_ms']:.2f} ms, min {r['min_ms']:.2f} ms "
              f"thread CPU median {r['cpu_median_ms']:.2f} ms ({r['runs']} runs, input {r['input']}, onnxruntime {r['onnxruntime']})")


if __name__ == "__main__":
    main()
