"""Evaluate the exported ONNX classifier with onnxruntime on a split of the dataset, clean and camera-degraded.

Writes every number of the model card to a JSON file (default models/metrics_<split>.json): per-class
precision/recall/F1/support, 5x5 confusion matrix, failure-vs-normal AUROC/AUPRC, recall at 3 % / 5 % FPR with
the thresholds that give them, per-source AUROC, ECE (15 bins) before and after the baked temperature, and the
val-fitted operating thresholds applied to the split.
"""
import argparse
import json
import os

import numpy as np

from common import CLASSES, DEFAULT_DATA, REPO_ROOT, load_rgb, read_labels, stretch_resize

FPRS = (0.03, 0.05)


# ---------------------------------------------------------------- metrics (numpy only)
def auroc(pos, score):
    pos = np.asarray(pos, bool)
    if pos.all() or (~pos).all():
        return None
    order = np.argsort(score, kind="mergesort")
    s = np.asarray(score)[order]
    ranks = np.empty(len(s))
    i = 0
    while i < len(s):  # average ranks for ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[i : j + 1] = (i + j) / 2 + 1
        i = j + 1
    r = np.empty(len(s))
    r[order] = ranks
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((r[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auprc(pos, score):
    """Average precision (step-wise area under the precision-recall curve)."""
    pos = np.asarray(pos, bool)
    order = np.argsort(-np.asarray(score), kind="mergesort")
    tp = np.cumsum(pos[order])
    prec = tp / np.arange(1, len(pos) + 1)
    return float((prec * pos[order]).sum() / pos.sum())


def threshold_at_fpr(neg_scores, fpr):
    """Smallest threshold t with FPR(score > t) <= fpr on the given negatives."""
    s = np.sort(np.asarray(neg_scores))[::-1]
    k = int(np.floor(fpr * len(s) + 1e-9))
    return float(s[k]) if k < len(s) else float("-inf")


def binary_metrics(pos, score):
    pos, score = np.asarray(pos, bool), np.asarray(score, np.float64)
    out = {"auroc": auroc(pos, score), "auprc": auprc(pos, score), "n_failure": int(pos.sum()),
           "n_normal": int((~pos).sum()), "recall_at_fpr": {}}
    for f in FPRS:
        t = threshold_at_fpr(score[~pos], f)
        out["recall_at_fpr"][str(f)] = {"threshold": t, "recall": float((score[pos] > t).mean()),
                                        "fpr": float((score[~pos] > t).mean())}
    return out


def classification_report(y, probs):
    pred = probs.argmax(1)
    k = len(CLASSES)
    cm = np.zeros((k, k), int)
    np.add.at(cm, (y, pred), 1)
    per = {}
    for c, name in enumerate(CLASSES):
        tp, fp, fn = cm[c, c], cm[:, c].sum() - cm[c, c], cm[c, :].sum() - cm[c, c]
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        per[name] = {"precision": float(p), "recall": float(r), "f1": float(2 * p * r / (p + r) if p + r else 0.0),
                     "support": int(cm[c].sum())}
    return {"accuracy": float((pred == y).mean()), "macro_f1": float(np.mean([v["f1"] for v in per.values()])),
            "per_class": per, "confusion_matrix": {"rows_true_cols_pred": CLASSES, "matrix": cm.tolist()}}


def ece(conf, correct, bins=15):
    conf, correct = np.asarray(conf), np.asarray(correct, float)
    edges = np.linspace(0, 1, bins + 1)
    e = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (conf > lo) & (conf <= hi)
        if m.any():
            e += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(e)


def calibration(y, probs):
    return {"ece_top_label_15": ece(probs.max(1), probs.argmax(1) == y),
            "ece_failure_binary_15": ece(np.where(probs[:, 0] < 0.5, 1 - probs[:, 0], probs[:, 0]),
                                         (probs[:, 0] < 0.5) == (y != 0)),
            "nll": float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1)).mean())}


def full_report(rows, probs, val_thresholds=None):
    y = np.array([r["y"] for r in rows])
    score = 1 - probs[:, 0]
    rep = classification_report(y, probs)
    rep["failure_vs_normal"] = binary_metrics(y != 0, score)
    rep["per_source"] = {}
    for src in sorted({r["source"] for r in rows}):
        m = np.array([r["source"] == src for r in rows])
        d = {"n": int(m.sum()), "n_failure": int((y[m] != 0).sum()), "auroc": auroc(y[m] != 0, score[m]),
             "mean_failure_prob": float(score[m].mean())}
        t5 = rep["failure_vs_normal"]["recall_at_fpr"]["0.05"]["threshold"]
        d["flagged_at_5fpr_threshold"] = float((score[m] > t5).mean())
        rep["per_source"][src] = d
    if val_thresholds:
        rep["val_thresholds_applied"] = {
            f: {"threshold": t, "recall": float((score[y != 0] > t).mean()), "fpr": float((score[y == 0] > t).mean())}
            for f, t in val_thresholds.items()}
    return rep


# ---------------------------------------------------------------- ONNX inference
def session(path, threads=2):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    return sess, float(meta.get("temperature", 1.0))


def run(sess, imgs, batch=32):
    outs = []
    for i in range(0, len(imgs), batch):
        x = np.ascontiguousarray(imgs[i : i + batch].transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
        outs.append(sess.run(["probs"], {"image": x})[0])
    return np.concatenate(outs).astype(np.float64)


def uncalibrated(probs, temperature):
    """Undo the baked temperature: softmax(T * log p) == softmax(raw logits)."""
    z = temperature * np.log(np.clip(probs, 1e-38, 1))
    z -= z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def split_images(data_dir, rows, size, degrade):
    from augment import camera_degrade

    imgs = []
    for i, r in enumerate(rows):
        img = load_rgb(data_dir, r["path"])
        imgs.append(camera_degrade(img, size, i) if degrade else stretch_resize(img, size))
    return np.stack(imgs)


def evaluate(onnx_path, data_dir, split, threads=2):
    sess, temp = session(onnx_path, threads)
    size = sess.get_inputs()[0].shape[2]
    rows = read_labels(data_dir, split)
    result = {"onnx": os.path.basename(onnx_path), "split": split, "n": len(rows), "temperature": temp,
              "input_size": size}
    val_thr = {}
    if split != "val":  # operating thresholds chosen on val (clean), applied to this split
        vrows = read_labels(data_dir, "val")
        vp = run(sess, split_images(data_dir, vrows, size, False))
        vy = np.array([r["y"] for r in vrows])
        val_thr = {str(f): threshold_at_fpr(1 - vp[vy == 0, 0], f) for f in FPRS}
        result["val_thresholds"] = val_thr
    for name, degrade in (("clean", False), ("camera_degraded", True)):
        probs = run(sess, split_images(data_dir, rows, size, degrade))
        y = np.array([r["y"] for r in rows])
        rep = full_report(rows, probs, val_thr)
        rep["calibration"] = {"after_temperature": calibration(y, probs),
                              "before_temperature": calibration(y, uncalibrated(probs, temp))}
        result[name] = rep
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--onnx", default=str(REPO_ROOT / "models" / "classifier.onnx"))
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--split", default="test", choices=["train", "val", "test"])
    ap.add_argument("--out", default=None, help="default: models/metrics_<split>.json")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    res = evaluate(args.onnx, args.data, args.split, args.threads)
    out = args.out or str(REPO_ROOT / "models" / f"metrics_{args.split}.json")
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    for name in ("clean", "camera_degraded"):
        r = res[name]
        b = r["failure_vs_normal"]
        print(f"{args.split}/{name}: acc {r['accuracy']:.3f} macroF1 {r['macro_f1']:.3f} AUROC {b['auroc']:.3f} "
              f"AUPRC {b['auprc']:.3f} R@3%FPR {b['recall_at_fpr']['0.03']['recall']:.3f} "
              f"R@5%FPR {b['recall_at_fpr']['0.05']['recall']:.3f} "
              + " ".join(f"{s}:{v['auroc']:.3f}" for s, v in r["per_source"].items() if v["auroc"] is not None)
              + f" ECE {r['calibration']['before_temperature']['ece_top_label_15']:.3f}"
              f"->{r['calibration']['after_temperature']['ece_top_label_15']:.3f}")
    print("wrote", out)


if __name__ == "__main__":
    main()
