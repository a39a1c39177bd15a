"""Train the v2 head on all the data with a configuration chosen by LOCO (loco.py), and export the full network
(frozen ImageNet EfficientNet-Lite0 + head, normalisation and temperature baked in) with exactly the v1 I/O
contract: input `image` [N,3,224,224] RGB in [0,1], output `probs` [N,5] (classes of common.CLASSES).

The head is fitted on every split of every source plus all synthetic training composites. The temperature is
the one fitted on the LOCO out-of-fold predictions of the same configuration, i.e. calibrated for cameras the
head has not seen (a temperature fitted in-sample would be over-confident there).
"""
import argparse
import json
import os

import numpy as np
import torch

import loco
from common import CLASSES, DEFAULT_DATA, REPO_ROOT
from export import check_against_torch, export, write_toml
from features import V2Classifier, V2SpatialClassifier, feature_index

MODEL_NAME = "layerwatch-effnet-lite0-v2"


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", required=True, help="name prefix (letter) of a loco.ablation_configs() entry")
    ap.add_argument("--out-dir", default=str(REPO_ROOT / "models"))
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--rerun-loco", action="store_true",
                    help="run the configuration's LOCO again (saves the fold heads for loco.py refeature)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    name, cfg = next((n, c) for n, c in loco.ablation_configs() if n.startswith(args.config))
    spatial = bool(cfg.get("spatial"))
    data = loco.Data(spatial=spatial)
    abl = loco.OUT / "ablation.json"
    done = json.loads(abl.read_text()).get(name) if abl.exists() else None
    if done and not args.rerun_loco:  # the ablation already ran this configuration's LOCO: reuse its temperature
        res = done
        print("LOCO (and temperature) from", abl)
    else:
        res, heads, _, _ = loco.run_loco(data, cfg, return_logits=True)
        import pickle

        with open(loco.OUT / "fold_heads.pkl", "wb") as f:  # for loco.py refeature (LOCO of the int8 backbone)
            pickle.dump({"config": cfg, "temperature": res["temperature"], "heads": heads}, f)
    T = res["temperature"]
    print(loco.summary_line(name, res))
    X, y, w = data.train_set(cfg, held=None, all_splits=True)
    st = loco.fit_head(X, y, w, cfg)
    if spatial:
        model = V2SpatialClassifier(st, temperature=T).eval()
    else:
        st["index"] = feature_index(cfg["features"])
        model = V2Classifier(st, temperature=T).eval()
    os.makedirs(args.out_dir, exist_ok=True)
    onnx_path = os.path.join(args.out_dir, "classifier.onnx")
    meta = {"temperature": T, "variant": f"v2 frozen-backbone head: {name}", "labels": ",".join(CLASSES),
            "input_range": "RGB float32 in [0,1], stretch-resized",
            "normalisation": "(x-127/255)/(128/255) in graph", "config": json.dumps(cfg)}
    export(model, 224, onnx_path, 17, meta)
    digest = write_toml(onnx_path, 224, os.path.join(args.out_dir, "classifier.toml"), MODEL_NAME)
    diff, diff1, shape = check_against_torch(model, onnx_path, 224, args.data)
    # the exported graph must reproduce the cached-feature head (same features, same head)
    probe = [i for i, r in enumerate(data.real_m) if r["split"] == "val"][::70][:8]
    ref = loco.softmax(loco.head_logits(st, loco.pick(data.real_f, probe, 1, cfg)) / T)
    from common import load_rgb, stretch_resize
    from evaluate import run, session

    sess, _ = session(onnx_path, threads=1)
    got = run(sess, np.stack([stretch_resize(load_rgb(args.data, data.real_m[i]["path"]), 224) for i in probe]))
    cache_diff = float(np.abs(got - ref).max())
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path) / 1e6:.2f} MB, sha256 {digest}), T = {T:.4f}")
    print(f"onnxruntime vs PyTorch: output {shape}, max abs diff {diff:.2e} (batch), {diff1:.2e} (batch 1)")
    print(f"ONNX vs cached-feature head (float16 cache) on {len(probe)} val images: max abs diff {cache_diff:.2e}")
    out = loco.OUT / "final.json"
    out.write_text(json.dumps({"config_name": name, "config": cfg, "temperature": T, "loco": res,
                               "sha256": digest, "onnx_vs_cache_max_abs_diff": cache_diff}, indent=1))
    print("LOCO of this configuration ->", out)


if __name__ == "__main__":
    main()
