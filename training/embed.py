"""Precompute frozen-backbone features (features.py) once, so that many LOCO head configurations train in
seconds (loco.py). Writes training/cache/<part>.npz (git-ignored):

* `real`: every labelled image; view 0 = the deployment preprocessing of the whole image, views 1.. =
  `augment.printer_camera_augment` (seeded per image and view). No printer-camera background pool is used for
  the zoom-out here: it would put emptydeck/scythe frames into other sources' images and leak the held-out
  camera into its own fold.
* `synth_train`: synthetic kinds (synth.py) on every camera frame, donors from the train split, `--variants`
  per kind; view 0 clean, views 1.. printer-camera augmented.
* `synth_eval`: one composite per camera frame and kind, donors from val+test; saved as JPEG (quality 92) under
  cache/synth_eval/ so that every model (v1, v2, int8) scores the very same files; view 0 only.

Each npz holds `feats` float16 [N, V, FEATURE_DIM] and `meta` (JSON rows: path, source, label, y, split, group,
kind, base).
"""
import argparse
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

import augment
import synth
from common import CACHE_LONG_SIDE, DEFAULT_DATA, load_rgb, read_labels, shrink_long_side, stretch_resize, to_tensor
from features import FEATURE_DIM, export_features_onnx

CACHE = Path(__file__).resolve().parent / "cache"


def session(path, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class Embedder:
    def __init__(self, threads, size=224, batch=32, spatial=False):
        CACHE.mkdir(exist_ok=True)
        onnx_path = CACHE / f"features{size}{'_spatial' if spatial else ''}.onnx"
        if not onnx_path.exists():
            export_features_onnx(onnx_path, size, spatial)
        self.spatial = spatial
        self.sess, self.size, self.batch = session(onnx_path, threads), size, batch
        self.pending, self.out = [], []

    def add(self, img224):
        self.pending.append(img224)
        if len(self.pending) >= self.batch:
            self.flush()

    def flush(self):
        if self.pending:
            x = to_tensor(np.stack(self.pending)).numpy()
            self.out.append(self.sess.run(["f"], {"image": x})[0].astype(np.float16))
            self.pending = []

    def result(self, views):
        self.flush()
        f = np.concatenate(self.out) if self.out else np.zeros((0, FEATURE_DIM), np.float16)
        return f.reshape(-1, views, *f.shape[1:]) if self.spatial else f.reshape(-1, views, FEATURE_DIM)


def views_of(img, n_views, seed, key, size):
    out = [stretch_resize(img, size)]
    small = shrink_long_side(img, CACHE_LONG_SIDE)
    for v in range(1, n_views):
        out.append(augment.printer_camera_augment(small, size, np.random.default_rng([seed, *key, v])))
    return out


def meta_row(r, **extra):
    keep = ("path", "source", "label", "y", "split", "group")
    return {**{k: r[k] for k in keep}, **extra}


def run_real(args, emb):
    rows = read_labels(args.data)
    meta = []
    t0 = time.time()
    for i, r in enumerate(rows):
        for v in views_of(load_rgb(args.data, r["path"]), args.views, args.seed, (0, i), args.size):
            emb.add(v)
        meta.append(meta_row(r, kind="real", base=r["path"]))
        if i % 250 == 0:
            print(f"real {i}/{len(rows)} {time.time() - t0:.0f}s", flush=True)
    return meta, args.views


def run_synth_train(args, emb):
    meta = []
    t0 = time.time()
    for n, (r, kind, var, y, img) in enumerate(synth.generate(args.data, {"train"}, args.variants, args.seed)):
        for v in views_of(img, args.views, args.seed, (1, n), args.size):
            emb.add(v)
        meta.append(meta_row(r, kind=kind, base=r["path"], y=y, label=kind, path=f"{r['path']}#{kind}{var}"))
        if n % 250 == 0:
            print(f"synth_train {n} {time.time() - t0:.0f}s", flush=True)
    return meta, args.views


def run_synth_eval(args, emb):
    out_dir = CACHE / "synth_eval"
    meta = []
    for n, (r, kind, var, y, img) in enumerate(synth.generate(args.data, {"val", "test"}, 1, args.seed + 1)):
        rel = f"{kind}/{Path(r['path']).stem}.jpg"
        (out_dir / kind).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out_dir / rel), img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        back = cv2.cvtColor(cv2.imread(str(out_dir / rel)), cv2.COLOR_BGR2RGB)
        emb.add(stretch_resize(back, args.size))
        meta.append(meta_row(r, kind=kind, base=r["path"], y=y, label=kind, path=f"synth_eval/{rel}"))
    with open(out_dir / "index.json", "w") as f:
        json.dump(meta, f)
    return meta, 1


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("part", choices=["real", "synth_train", "synth_eval"])
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--views", type=int, default=3, help="views per image: 1 clean + (views-1) augmented")
    ap.add_argument("--variants", type=int, default=2, help="synth_train: composites per frame and kind")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--spatial", action="store_true",
                    help="store the 7x7x1280 head-conv map per view instead of pooled vectors (<part>_spatial.npz)")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    import torch

    torch.set_num_threads(args.threads)
    emb = Embedder(args.threads, args.size, spatial=args.spatial)
    t0 = time.time()
    meta, views = {"real": run_real, "synth_train": run_synth_train, "synth_eval": run_synth_eval}[args.part](
        args, emb)
    feats = emb.result(views)
    assert len(feats) == len(meta), (feats.shape, len(meta))
    name = args.part + ("_spatial" if args.spatial else "")
    np.savez(CACHE / f"{name}.npz", feats=feats, meta=json.dumps(meta))
    print(f"{name}: {feats.shape} in {time.time() - t0:.0f}s -> {CACHE / (name + '.npz')}")


if __name__ == "__main__":
    main()
