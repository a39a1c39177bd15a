"""Fine-tune EfficientNet-Lite0 (ImageNet) on the print-failures train split, select the epoch on val, fit the
softmax temperature on val (NLL) and save a checkpoint that export.py turns into ONNX.

Reproducible: every random choice comes from --seed (per-sample augmentation generators are keyed by
(seed, epoch, sample index)); torch runs deterministic CPU kernels with a fixed thread count.
"""
import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import augment
from common import (CACHE_LONG_SIDE, CLASSES, DEFAULT_DATA, Classifier, build_backbone, load_rgb,
                    read_labels, shrink_long_side, stretch_resize, to_tensor)
from evaluate import binary_metrics, classification_report


def load_split(data_dir, split, size):
    rows = read_labels(data_dir, split)
    if split == "train":  # cache aspect-kept, shrunk copies; augmentation crops/resizes them per step
        imgs = [shrink_long_side(load_rgb(data_dir, r["path"]), CACHE_LONG_SIDE) for r in rows]
    else:  # evaluation: exactly the deployment preprocessing of the full image
        imgs = np.stack([stretch_resize(load_rgb(data_dir, r["path"]), size) for r in rows])
    return rows, imgs


def fit_temperature(logits, y):
    """Temperature minimising NLL on (val) logits: golden-section search on log T in [0.05, 20]."""
    logits, y = torch.as_tensor(logits), torch.as_tensor(y)

    def nll(log_t):
        return F.cross_entropy(logits / math.exp(log_t), y).item()

    a, b = math.log(0.05), math.log(20.0)
    g = (math.sqrt(5) - 1) / 2
    for _ in range(80):
        c, d = b - g * (b - a), a + g * (b - a)
        if nll(c) < nll(d):
            b = d
        else:
            a = c
    t = math.exp((a + b) / 2)
    return t, nll(0.0), nll(math.log(t))


@torch.no_grad()
def predict_logits(model, trunk, k, imgs, batch=64):
    model.eval()
    out = [rest_logits(model, trunk(imgs[i : i + batch]), k) for i in range(0, len(imgs), batch)]
    return torch.cat(out).numpy()


class Trunk(torch.nn.Module):
    """Normalisation + stem + the first k MBConv blocks: kept frozen (ImageNet weights, BN in eval mode)."""

    def __init__(self, model, k):
        super().__init__()
        self.model, self.k = model, k

    def forward(self, x):
        net = self.model.backbone
        x = net._swish(net._bn0(net._conv_stem((x - self.model.mean) / self.model.std)))
        for block in net._blocks[: self.k]:
            x = block(x)
        return x


def frozen_trunk(model, k, size, path, threads):
    """Freeze the trunk and run it in onnxruntime: on this CPU PyTorch's depthwise convolutions at 112/56 px
    are ~10x slower than onnxruntime's, and they dominate the step time. Returns features(uint8 batch)."""
    import onnxruntime as ort

    net = model.backbone
    for m in [net._conv_stem, net._bn0, *net._blocks[:k]]:
        m.requires_grad_(False)
    trunk = Trunk(model, k).eval()
    torch.onnx.export(trunk, (torch.rand(2, 3, size, size),), str(path), input_names=["x"], output_names=["f"],
                      dynamic_axes={"x": {0: "n"}, "f": {0: "n"}}, opset_version=17, dynamo=False)
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return lambda imgs: torch.from_numpy(sess.run(["f"], {"x": to_tensor(imgs).numpy()})[0])


def rest_logits(model, feats, k):
    """The trainable part: MBConv blocks k.. (with the network's drop-connect schedule), head conv, pool, fc."""
    net = model.backbone
    x = feats
    for idx in range(k, len(net._blocks)):
        x = net._blocks[idx](x, drop_connect_rate=net._global_params.drop_connect_rate * idx / len(net._blocks))
    x = net._swish(net._bn1(net._conv_head(x)))
    return net._fc(net._dropout(net._avg_pooling(x).flatten(1)))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--variant", choices=["light", "printer"], required=True,
                    help="light: flip + random resized crop; printer: printer-camera augmentation (augment.py)")
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--out", default=None, help="run dir (default training/runs/<variant>)")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=0.02)
    ap.add_argument("--label-smoothing", type=float, default=0.05)
    ap.add_argument("--freeze-blocks", type=int, default=5,
                    help="stem + this many first MBConv blocks stay frozen (stages 1-3: 112..28 px)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20241123)
    ap.add_argument("--stop-after", type=int, default=0,
                    help="train only the first N epochs of the --epochs schedule (the committed runs: 7 of 10)")
    ap.add_argument("--finalize-only", action="store_true",
                    help="skip training: fit the temperature for an existing <out>/best.pt and write summary.json")
    ap.add_argument("--max-steps", type=int, default=0, help="stop each epoch after this many steps (smoke tests)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)
    out = Path(args.out or Path(__file__).resolve().parent / "runs" / args.variant)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.time()
    train_rows, train_imgs = load_split(args.data, "train", args.size)
    val_rows, val_imgs = load_split(args.data, "val", args.size)
    y_train = np.array([r["y"] for r in train_rows])
    y_val = np.array([r["y"] for r in val_rows])
    bg_pool = [im for r, im in zip(train_rows, train_imgs)
               if r["label"] == "normal" and r["source"] in ("emptydeck", "scythe")]
    print(f"loaded {len(train_rows)} train / {len(val_rows)} val images in {time.time() - t0:.0f}s; "
          f"{len(bg_pool)} printer-camera backgrounds", flush=True)

    # class imbalance: inverse-frequency class weights (mean 1) in the cross-entropy
    counts = np.bincount(y_train, minlength=len(CLASSES))
    weights = torch.tensor(len(y_train) / (len(CLASSES) * counts), dtype=torch.float32)
    print("train counts", dict(zip(CLASSES, counts.tolist())), "weights", [round(w, 3) for w in weights.tolist()])

    model = Classifier(build_backbone(image_size=args.size, pretrained=True))
    k = args.freeze_blocks
    trunk = frozen_trunk(model, k, args.size, out / "trunk.onnx", args.threads)
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.ndim > 1]
    no_decay = [p for p in trainable if p.ndim <= 1]
    print(f"trainable parameters {sum(p.numel() for p in trainable):,} of {sum(p.numel() for p in model.parameters()):,}")
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    steps_per_epoch = len(train_rows) // args.batch
    if args.max_steps:
        steps_per_epoch = min(steps_per_epoch, args.max_steps)
    total, warm = args.epochs * steps_per_epoch, steps_per_epoch // 2

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        return 0.5 * args.lr * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    augment_fn = augment.light_augment if args.variant == "light" else augment.printer_camera_augment
    history, best, step = [], None, 0
    n_epochs = 0 if args.finalize_only else (args.stop_after or args.epochs)
    if not args.finalize_only:
        (out / "history.jsonl").write_text("")
    for epoch in range(n_epochs):
        model.train()
        perm = np.random.default_rng([args.seed, epoch]).permutation(len(train_rows))
        te, losses = time.time(), []
        for b in range(steps_per_epoch):
            idx = perm[b * args.batch : (b + 1) * args.batch]
            batch = []
            for i in idx:
                rng = np.random.default_rng([args.seed, epoch, int(i)])
                if args.variant == "light":
                    batch.append(augment_fn(train_imgs[i], args.size, rng))
                else:
                    batch.append(augment_fn(train_imgs[i], args.size, rng, bg_pool))
            feats, y = trunk(np.stack(batch)), torch.from_numpy(y_train[idx])
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            loss = F.cross_entropy(rest_logits(model, feats, k), y, weight=weights, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
            if b % 20 == 0:
                print(f"  epoch {epoch} step {b}/{steps_per_epoch} loss {np.mean(losses[-20:]):.3f} "
                      f"{(time.time() - te) / (b + 1):.2f}s/step", flush=True)
        epoch_s = time.time() - te
        logits = predict_logits(model, trunk, k, val_imgs)
        val_loss = F.cross_entropy(torch.from_numpy(logits), torch.from_numpy(y_val)).item()
        probs = torch.softmax(torch.from_numpy(logits), 1).numpy()
        rep = classification_report(y_val, probs)
        binm = binary_metrics(y_val != 0, 1 - probs[:, 0])
        rec = {"epoch": epoch, "train_loss": float(np.mean(losses)), "epoch_s": round(epoch_s, 1),
               "val_loss": val_loss, "val_acc": rep["accuracy"], "val_macro_f1": rep["macro_f1"],
               "val_auroc": binm["auroc"], "val_recall_at_5fpr": binm["recall_at_fpr"]["0.05"]["recall"]}
        history.append(rec)
        print(json.dumps(rec), flush=True)
        with open(out / "history.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")
        state = {"model": model.state_dict(), "epoch": epoch, "image_size": args.size, "args": vars(args),
                 "val": rec}
        torch.save(state, out / "last.pt")
        # epoch selection on val: failure-vs-normal AUROC, ties broken by macro-F1
        key = (round(rec["val_auroc"], 4), rec["val_macro_f1"])
        if best is None or key > best[0]:
            best = (key, epoch)
            torch.save(state, out / "best.pt")

    # temperature scaling on val with the selected epoch
    ck = torch.load(out / "best.pt", weights_only=False)
    model.load_state_dict(ck["model"])
    logits = predict_logits(model, trunk, k, val_imgs)
    t, nll_before, nll_after = fit_temperature(logits, y_val)
    model.temperature.fill_(t)
    ck["model"] = model.state_dict()
    ck["temperature"] = t
    torch.save(ck, out / "best.pt")
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines() if line.strip()]
    summary = {"variant": args.variant, "best_epoch": ck["epoch"], "temperature": t,
               "val_nll_before": nll_before, "val_nll_after": nll_after,
               "epoch_seconds": [h["epoch_s"] for h in history], "history": history, "args": vars(args)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"best epoch {ck['epoch']}, temperature {t:.3f} (val NLL {nll_before:.4f} -> {nll_after:.4f}); "
          f"this invocation took {(time.time() - t0) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
