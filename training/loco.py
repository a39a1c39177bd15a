"""Leave-one-camera-out (LOCO) protocol: heads on cached frozen features (embed.py), and the same metrics for
any fixed ONNX model (v1, v2, int8) scored on the same images.

Protocol (defined once here; the model card quotes it):
* Folds: each source S in SOURCES is held out in turn. The fold's head is trained on the *train split* of every
  other source (all augmented views) plus the synthetic training composites (synth_train) whose camera frame is
  not from S and whose donor crops are not from S. Val/test images of other sources stay out of training, so no
  synthetic evaluation composite (donors from val/test) shares a crop with anything the head saw.
* Each held-out image is scored once, by its own fold's head, on the deployment preprocessing of the whole image
  (view 0). The temperature is fitted (NLL) on these pooled out-of-fold predictions.
* Per source, AUROC of failure probability (1 - p(normal)):
    - autozmj2n, snu (both classes): failures vs normals of S;
    - kapis20, rf_qa3dprinting (failures only): S's failures vs the pooled held-out normals of all folds;
    - emptydeck, scythe (printer cameras, normals only): S's real normal frames vs the synthetic failures made on
      S's own frames (synth_eval, donors from val/test; kinds in synth.py; the `normal_paste` control counts as
      normal). Also the false-positive rate of S's real normals at failure probability 0.5 and 0.7 (the
      default warning and pause levels of calibration/default.toml).
  Headline: the worst and the mean of the six per-source AUROCs.
* A fixed model (v1, the final v2, int8) is scored on the same images with the same metric code; it was trained
  on the train split of every source, so its figures are *not* leave-one-out (they flatter it).

Usage:  loco.py ablate            (every configuration of the ablation table; writes runs/loco/ablation.json)
        loco.py score --onnx M --tag T   (fixed model's probabilities on all real images + synth_eval)
        loco.py report --tag T     (LOCO-protocol metrics of a scored fixed model)
"""
import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from evaluate import auroc
from features import FEATURE_BLOCKS, feature_index

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache"
OUT = HERE / "runs" / "loco"
SOURCES = ["autozmj2n", "emptydeck", "kapis20", "rf_qa3dprinting", "scythe", "snu"]
CAMERAS = ("emptydeck", "scythe")
DONOR_SOURCES = {"spaghetti_paste": {"kapis20"}, "fail_paste": {"rf_qa3dprinting"},
                 "normal_paste": {"autozmj2n", "snu"}}
SYNTH_FAIL_KINDS = ["spaghetti_paste", "fail_paste", "air_strands", "nozzle_blob", "detached"]
LEVELS = (0.5, 0.7)


def load(part):
    z = np.load(CACHE / f"{part}.npz")
    return z["feats"], json.loads(str(z["meta"]))


# ---------------------------------------------------------------- heads
def fit_head(X, y, w, cfg, seed=0):
    """Softmax regression (or one hidden layer) on standardised features; returns a head_state dict."""
    if cfg.get("spatial"):
        return fit_spatial(X, y, w, cfg, seed)
    torch.manual_seed(seed)
    X = torch.as_tensor(X, dtype=torch.float32)
    mu, sd = X.mean(0), X.std(0) + 1e-3
    Xs = (X - mu) / sd
    yt, wt = torch.as_tensor(y), torch.as_tensor(w, dtype=torch.float32)
    d, k = X.shape[1], 5
    if cfg.get("hidden"):
        layers = [torch.nn.Linear(d, cfg["hidden"]), torch.nn.Linear(cfg["hidden"], k)]
    else:
        layers = [torch.nn.Linear(d, k)]
    params = [p for l in layers for p in l.parameters()]

    def fwd(x):
        for i, l in enumerate(layers):
            x = l(F.dropout(x, cfg.get("dropout", 0.0), training=True) if i == 0 and cfg.get("dropout") else x)
            if i < len(layers) - 1:
                x = F.relu(x)
        return x

    wd = cfg.get("wd", 1e-3)
    ls = cfg.get("label_smoothing", 0.05)
    opt = torch.optim.Adam(params, lr=cfg.get("lr", 1e-3))
    n = len(Xs)
    g = torch.Generator().manual_seed(seed)
    steps = cfg.get("steps", 600)
    bs = min(512, n)
    for step in range(steps):
        idx = torch.randint(0, n, (bs,), generator=g)
        lr = cfg.get("lr", 1e-3) * 0.5 * (1 + math.cos(math.pi * step / steps))
        for group in opt.param_groups:
            group["lr"] = lr
        logits = fwd(Xs[idx])
        loss = (F.cross_entropy(logits, yt[idx], reduction="none", label_smoothing=ls) * wt[idx]).sum() / wt[idx].sum()
        loss = loss + wd * sum((l.weight ** 2).sum() for l in layers)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"index": None, "mu": mu.numpy(), "sd": sd.numpy(),
            "layers": [(l.weight.detach().numpy(), l.bias.detach().numpy()) for l in layers]}


def pool_cells(l, r):
    """Per-cell logits [B,C,5] -> image logits [B,5]: normal = mean over cells (every cell must look normal),
    failure classes = log-mean-exp with sharpness r (a soft max: one failing cell is enough)."""
    normal = l[:, :, :1].mean(1)
    fail = (torch.logsumexp(r * l[:, :, 1:], dim=1) - math.log(l.shape[1])) / r
    return torch.cat([normal, fail], 1)


def fit_spatial(X, y, w, cfg, seed=0):
    """Multiple-instance head on the 7x7 head-conv map: one linear classifier per cell, pooled (pool_cells)."""
    torch.manual_seed(seed)
    n, c, d = X.shape
    acc, acc2 = np.zeros(d), np.zeros(d)
    for i in range(0, n, 512):
        b = X[i : i + 512].astype(np.float32).reshape(-1, d)
        acc += b.sum(0)
        acc2 += (b.astype(np.float64) ** 2).sum(0)
    mu = acc / (n * c)
    sd = np.sqrt(np.maximum(acc2 / (n * c) - mu ** 2, 0)) + 1e-3
    mu_t, sd_t = torch.as_tensor(mu, dtype=torch.float32), torch.as_tensor(sd, dtype=torch.float32)
    lin = torch.nn.Linear(d, 5)
    yt, wt = torch.as_tensor(y), torch.as_tensor(w, dtype=torch.float32)
    r, wd, ls, lr0 = cfg.get("r", 5.0), cfg.get("wd", 1e-3), cfg.get("label_smoothing", 0.05), cfg.get("lr", 1e-3)
    opt = torch.optim.Adam(lin.parameters(), lr=lr0)
    g = torch.Generator().manual_seed(seed)
    steps, bs = cfg.get("steps", 600), min(cfg.get("batch", 256), n)
    for step in range(steps):
        idx = torch.randint(0, n, (bs,), generator=g)
        xb = (torch.from_numpy(X[idx.numpy()].astype(np.float32)) - mu_t) / sd_t
        if cfg.get("dropout"):
            xb = F.dropout(xb, cfg["dropout"], training=True)
        for group in opt.param_groups:
            group["lr"] = lr0 * 0.5 * (1 + math.cos(math.pi * step / steps))
        z = pool_cells(lin(xb), r)
        loss = (F.cross_entropy(z, yt[idx], reduction="none", label_smoothing=ls) * wt[idx]).sum() / wt[idx].sum()
        loss = loss + wd * (lin.weight ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"spatial": True, "r": r, "index": None, "mu": mu.astype(np.float32), "sd": sd.astype(np.float32),
            "layers": [(lin.weight.detach().numpy(), lin.bias.detach().numpy())]}


def head_logits(state, X):
    if state.get("spatial"):
        W, b = state["layers"][0]
        out = []
        with torch.no_grad():
            for i in range(0, len(X), 256):
                x = (np.asarray(X[i : i + 256], np.float32) - state["mu"]) / state["sd"]
                out.append(pool_cells(torch.from_numpy(x @ W.T + b), state["r"]).numpy())
        return np.concatenate(out) if out else np.zeros((0, 5), np.float32)
    x = (np.asarray(X, np.float32) - state["mu"]) / state["sd"]
    for i, (W, b) in enumerate(state["layers"]):
        x = x @ W.T + b
        if i < len(state["layers"]) - 1:
            x = np.maximum(x, 0)
    return x


def softmax(z):
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def fit_temperature(logits, y):
    """Temperature minimising the *failure-vs-normal* NLL of the pooled out-of-fold predictions (golden-section
    search on log T). The 5-class NLL is dominated by confusions between failure types across sources (an rf
    "fail" called spaghetti) and drove T to 4-6, which squashes p(normal) towards its prior and flags every
    normal frame; the decision only reads 1 - p(normal)."""
    z = torch.as_tensor(logits, dtype=torch.float64)
    is_normal = torch.as_tensor(np.asarray(y) == 0)

    def nll(log_t):
        lp = torch.log_softmax(z / math.exp(log_t), 1)
        p0 = lp[:, 0]
        p_fail = torch.log1p(-p0.exp().clamp(max=1 - 1e-12))
        return -torch.where(is_normal, p0, p_fail).mean().item()

    a, b = math.log(0.05), math.log(20.0)
    g = (math.sqrt(5) - 1) / 2
    for _ in range(60):
        c, d = b - g * (b - a), a + g * (b - a)
        if nll(c) < nll(d):
            b = d
        else:
            a = c
    return math.exp((a + b) / 2)


# ---------------------------------------------------------------- data selection
def pick(Fe, rows, views, cfg):
    """Features of `rows`, views 0..views-1, flattened to one sample per view (spatial: [n, cells, d])."""
    x = Fe[rows][:, :views]
    if cfg.get("spatial"):
        return x.reshape(-1, *x.shape[2:])
    idx = feature_index(cfg["features"])
    return x[:, :, idx].reshape(-1, len(idx))


class Data:
    def __init__(self, spatial=False):
        sfx = "_spatial" if spatial else ""
        self.real_f, self.real_m = load("real" + sfx)
        self.se_f, self.se_m = load("synth_eval" + sfx)
        if (CACHE / f"synth_train{sfx}.npz").exists():
            self.st_f, self.st_m = load("synth_train" + sfx)
        else:  # configurations without synthetic training composites can run before embed.py synth_train
            self.st_f, self.st_m = np.zeros((0, *self.real_f.shape[1:]), np.float16), []

    def train_set(self, cfg, held=None, all_splits=False):
        """Rows (features, label, weight) for a fold (held = the held-out source) or for the final model."""
        views = cfg.get("views", 3)
        Xs, ys, ws = [], [], []
        real = [i for i, r in enumerate(self.real_m)
                if r["source"] != held and (all_splits or r["split"] == "train")]
        yr = np.array([self.real_m[i]["y"] for i in real])
        Xs.append(pick(self.real_f, real, views, cfg))
        ys.append(np.repeat(yr, views))
        ws.append(np.ones(len(real) * views))
        if cfg.get("synth", True):
            kinds = set(cfg.get("kinds", SYNTH_FAIL_KINDS + ["normal_paste"]))
            syn = [i for i, r in enumerate(self.st_m)
                   if r["kind"] in kinds and r["source"] != held and held not in DONOR_SOURCES.get(r["kind"], ())]
            sv = min(views, self.st_f.shape[1])
            Xs.append(pick(self.st_f, syn, sv, cfg))
            ys.append(np.repeat(np.array([self.st_m[i]["y"] for i in syn], dtype=np.int64), sv))
            ws.append(np.full(len(syn) * sv, cfg.get("synth_weight", 1.0)))
        X = np.concatenate(Xs)
        X = X if cfg.get("spatial") else X.astype(np.float32)
        y, w = np.concatenate(ys).astype(np.int64), np.concatenate(ws)
        if cfg.get("class_weights", True):  # inverse class frequency (by weight), mean 1
            cw = np.array([w[y == c].sum() for c in range(5)])
            share = np.full(5, 0.2)
            if cfg.get("normal_half"):  # normal carries half of the total weight, the four failure classes the rest
                share = np.array([0.5, 0.125, 0.125, 0.125, 0.125])
            cw = np.where(cw > 0, w.sum() * share / np.maximum(cw, 1e-9), 0)
            w = w * cw[y]
        return X, y, w

    def eval_rows(self, held):
        """(features view 0 of held-out real images, their meta) + (synth_eval on held camera, meta)."""
        real = [i for i, r in enumerate(self.real_m) if r["source"] == held]
        syn = [i for i, r in enumerate(self.se_m) if r["source"] == held]
        return real, syn


# ---------------------------------------------------------------- metrics on pooled scores
def metrics(real_meta, real_p, syn_meta, syn_p):
    """real_p / syn_p: [N,5] probabilities for every real image / synth_eval composite (held-out scores)."""
    fr = 1 - real_p[:, 0]
    fs = 1 - syn_p[:, 0] if len(syn_p) else np.zeros(0)
    src = np.array([r["source"] for r in real_meta])
    yb = np.array([int(r["y"] != 0) for r in real_meta])
    pooled_normals = fr[yb == 0]
    out = {"per_source": {}, "kinds": {}}
    for s in SOURCES:
        m = src == s
        row = {"images": int(m.sum()), "failures": int(yb[m].sum())}
        if s in CAMERAS:
            sm = np.array([r["source"] == s for r in syn_meta])
            kinds = np.array([r["kind"] for r in syn_meta])
            fails = fs[sm & (kinds != "normal_paste")]
            negs = np.concatenate([fr[m & (yb == 0)], fs[sm & (kinds == "normal_paste")]])
            row["auroc"] = auroc(np.r_[np.zeros(len(negs)), np.ones(len(fails))], np.r_[negs, fails])
            row["auroc_basis"] = "own normals (+normal_paste) vs synthetic failures on own frames"
            for lv in LEVELS:
                row[f"fpr@{lv}"] = float((fr[m & (yb == 0)] > lv).mean())
            row["normal_paste_fpr@0.5"] = float((fs[sm & (kinds == "normal_paste")] > 0.5).mean())
            row["median_normal_score"] = float(np.median(fr[m & (yb == 0)]))
        elif yb[m].min() == 1:
            row["auroc"] = auroc(np.r_[np.zeros(len(pooled_normals)), np.ones(m.sum())], np.r_[pooled_normals, fr[m]])
            row["auroc_basis"] = "own failures vs pooled held-out normals"
        else:
            row["auroc"] = auroc(yb[m], fr[m])
            row["auroc_basis"] = "own failures vs own normals"
        for lv in LEVELS:
            if yb[m].sum():
                row[f"recall@{lv}"] = float((fr[m & (yb == 1)] > lv).mean())
        out["per_source"][s] = row
    kinds = np.array([r["kind"] for r in syn_meta])
    for k in SYNTH_FAIL_KINDS + ["normal_paste"]:
        mk = kinds == k
        if mk.any():
            out["kinds"][k] = {"n": int(mk.sum()), **{f"flagged@{lv}": float((fs[mk] > lv).mean()) for lv in LEVELS}}
    a = [out["per_source"][s]["auroc"] for s in SOURCES]
    out["worst"], out["mean"] = float(min(a)), float(np.mean(a))
    out["pooled_real_auroc"] = auroc(yb, fr)
    return out


def run_loco(data, cfg, return_logits=False):
    real_logits = np.zeros((len(data.real_m), 5), np.float32)
    syn_logits = np.zeros((len(data.se_m), 5), np.float32)
    heads = {}
    for s in SOURCES:
        t0 = time.time()
        X, y, w = data.train_set(cfg, held=s)
        st = fit_head(X, y, w, cfg)
        print(f"  fold {s}: {len(y)} samples, {time.time() - t0:.0f}s", flush=True)
        heads[s] = st
        real, syn = data.eval_rows(s)
        real_logits[real] = head_logits(st, pick(data.real_f, real, 1, cfg))
        if syn:
            syn_logits[syn] = head_logits(st, pick(data.se_f, syn, 1, cfg))
    T = fit_temperature(real_logits, np.array([r["y"] for r in data.real_m]))
    tag = cfg.get("tag")
    if tag:  # keep the out-of-fold logits: metrics at another temperature need no refit
        np.savez(CACHE / f"loco_logits_{tag}.npz", real=real_logits, synth_eval=syn_logits)
    res = metrics(data.real_m, softmax(real_logits / T), data.se_m, softmax(syn_logits / T))
    res["temperature"] = T
    if return_logits:
        return res, heads, real_logits, syn_logits
    return res


BASE = {"features": ["head_avg"], "views": 1, "synth": False, "wd": 1e-3, "steps": 600}


def ablation_configs():
    """Each step adds one change to the previous best-guess chain (the card's ablation table)."""
    allf = [n for n, _ in FEATURE_BLOCKS]
    steps = [
        ("A frozen Lite0, head_avg, clean views only, no synthetic (v1-like data)", dict(BASE)),
        ("B + printer-camera augmented views (3 per image)", {**BASE, "views": 3}),
        ("C + head max-pool", {**BASE, "views": 3, "features": ["head_avg", "head_max"]}),
        ("D + stage 4-7 pools", {**BASE, "views": 3, "features": allf}),
        ("E + synthetic kinds on camera frames (no normal_paste control)",
         {**BASE, "views": 3, "features": allf, "synth": True, "kinds": SYNTH_FAIL_KINDS}),
        ("F + normal_paste control", {**BASE, "views": 3, "features": allf, "synth": True}),
        ("G F with MLP head (512 hidden, dropout 0.2)",
         {**BASE, "views": 3, "features": allf, "synth": True, "hidden": 512, "dropout": 0.2, "steps": 1500}),
        ("H F with stronger L2 (wd 1e-2)", {**BASE, "views": 3, "features": allf, "synth": True, "wd": 1e-2}),
        ("I F with synthetic weight 2", {**BASE, "views": 3, "features": allf, "synth": True, "synth_weight": 2.0}),
        ("K spatial MIL head on the 7x7 head map (clean view, synthetic + control)",
         {"spatial": True, "features": ["head_map"], "views": 1, "synth": True, "wd": 1e-3, "steps": 800, "r": 5.0}),
        ("L K with r = 10", {"spatial": True, "features": ["head_map"], "views": 1, "synth": True, "wd": 1e-3,
                             "steps": 800, "r": 10.0}),
        ("M K without synthetic", {"spatial": True, "features": ["head_map"], "views": 1, "synth": False,
                                   "wd": 1e-3, "steps": 800, "r": 5.0}),
        ("N K, 300 steps of 128 images, binary-NLL temperature (the final v2)",
         {"spatial": True, "features": ["head_map"], "views": 1, "synth": True, "wd": 1e-3, "steps": 300,
          "batch": 128, "r": 5.0, "tag": "N"}),
        ("J F with normal = half the class weight", {**BASE, "views": 3, "features": allf, "synth": True,
                                                     "normal_half": True}),
    ]
    return steps


def summary_line(name, r):
    ps = r["per_source"]
    cells = " ".join(f"{s[:6]}={ps[s]['auroc']:.3f}" for s in SOURCES)
    cam = " ".join(f"{c[:5]}FPR@.5/.7={ps[c]['fpr@0.5']:.2f}/{ps[c]['fpr@0.7']:.2f}" for c in CAMERAS)
    return f"{name}\n   worst={r['worst']:.3f} mean={r['mean']:.3f} | {cells} | {cam}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("ablate")
    a.add_argument("--only", nargs="*", help="config letters to run (default all)")
    sc = sub.add_parser("score")
    sc.add_argument("--onnx", required=True)
    sc.add_argument("--tag", required=True)
    sc.add_argument("--data", default=None)
    rp = sub.add_parser("report")
    rp.add_argument("--tag", required=True)
    rq = sub.add_parser("refeature", help="LOCO of the saved fold heads (final.py) on another feature ONNX, "
                        "e.g. the int8-quantised backbone: re-extracts view-0 features of every image")
    rq.add_argument("--features-onnx", required=True)
    rq.add_argument("--tag", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    if args.cmd == "ablate":
        data = {}
        path = OUT / "ablation.json"
        for name, cfg in ablation_configs():
            if args.only and name[0] not in args.only:
                continue
            t0 = time.time()
            sp = bool(cfg.get("spatial"))
            if sp not in data:
                data = {sp: Data(spatial=sp)}
            r = run_loco(data[sp], cfg)
            r["config"] = cfg
            r["seconds"] = time.time() - t0
            results = json.loads(path.read_text()) if path.exists() else {}  # merge: other runs may write too
            results[name] = r
            print(summary_line(name, r), f"({r['seconds']:.0f}s)", flush=True)
            path.write_text(json.dumps(results, indent=1))
    elif args.cmd == "score":
        score_fixed(args.onnx, args.tag, args.data)
    elif args.cmd == "refeature":
        r = refeature(args.features_onnx, args.tag)
        print(summary_line(args.tag, r))
        print(json.dumps(r["kinds"], indent=1))
    elif args.cmd == "report":
        r = report_fixed(args.tag)
        print(summary_line(args.tag, r))
        print(json.dumps(r["kinds"], indent=1))


def score_fixed(onnx_path, tag, data_dir=None):
    """Probabilities of a fixed ONNX model (v1 contract) for every real image and every synth_eval file."""
    import cv2

    from common import DEFAULT_DATA, load_rgb, stretch_resize
    from evaluate import run, session

    data_dir = data_dir or DEFAULT_DATA
    sess, _ = session(onnx_path, threads=1)
    size = sess.get_inputs()[0].shape[2]
    _, real_m = load("real")
    _, se_m = load("synth_eval")
    out = {}
    for name, meta, reader in [
        ("real", real_m, lambda r: load_rgb(data_dir, r["path"])),
        ("synth_eval", se_m, lambda r: cv2.cvtColor(cv2.imread(str(CACHE / r["path"])), cv2.COLOR_BGR2RGB)),
    ]:
        probs = []
        for i in range(0, len(meta), 64):
            imgs = np.stack([stretch_resize(reader(r), size) for r in meta[i : i + 64]])
            probs.append(run(sess, imgs))
        out[name] = np.concatenate(probs)
    np.savez(CACHE / f"scores_{tag}.npz", real=out["real"], synth_eval=out["synth_eval"])
    print(f"scored {tag}: real {out['real'].shape}, synth_eval {out['synth_eval'].shape}")


def refeature(features_onnx, tag, data_dir=None):
    """The fold heads saved by final.py applied to features from another backbone graph (same layout)."""
    import pickle

    import cv2

    from common import DEFAULT_DATA, load_rgb, stretch_resize
    from embed import session

    data_dir = data_dir or DEFAULT_DATA
    saved = pickle.loads((OUT / "fold_heads.pkl").read_bytes())
    cfg, T, heads = saved["config"], saved["temperature"], saved["heads"]
    sess = session(features_onnx, 1)
    _, real_m = load("real")
    _, se_m = load("synth_eval")

    def feats(meta, reader):
        out = []
        for i in range(0, len(meta), 32):
            x = np.stack([stretch_resize(reader(r), 224) for r in meta[i : i + 32]]).astype(np.float32)
            out.append(sess.run(["f"], {"image": x.transpose(0, 3, 1, 2) / 255.0})[0])
        return np.concatenate(out)[:, None]  # one view

    fr = feats(real_m, lambda r: load_rgb(data_dir, r["path"]))
    fs = feats(se_m, lambda r: cv2.cvtColor(cv2.imread(str(CACHE / r["path"])), cv2.COLOR_BGR2RGB))
    real_logits = np.zeros((len(real_m), 5), np.float32)
    syn_logits = np.zeros((len(se_m), 5), np.float32)
    for s in SOURCES:
        rr = [i for i, r in enumerate(real_m) if r["source"] == s]
        ss = [i for i, r in enumerate(se_m) if r["source"] == s]
        real_logits[rr] = head_logits(heads[s], pick(fr, rr, 1, cfg))
        if ss:
            syn_logits[ss] = head_logits(heads[s], pick(fs, ss, 1, cfg))
    r = metrics(real_m, softmax(real_logits / T), se_m, softmax(syn_logits / T))
    (OUT / f"refeature_{tag}.json").write_text(json.dumps(r, indent=1))
    np.savez(CACHE / f"loco_logits_{tag}.npz", real=real_logits, synth_eval=syn_logits)
    return r


def report_fixed(tag):
    z = np.load(CACHE / f"scores_{tag}.npz")
    _, real_m = load("real")
    _, se_m = load("synth_eval")
    r = metrics(real_m, z["real"], se_m, z["synth_eval"])
    (OUT / f"fixed_{tag}.json").write_text(json.dumps(r, indent=1))
    return r


if __name__ == "__main__":
    main()
