"""Export a checkpoint to ONNX (normalisation + temperature + softmax baked in) and write classifier.toml.

Without --checkpoint it exports the ImageNet-initialised network with an untrained (random, seeded) head:
the integration stub with the final architecture and exact I/O contract.
"""
import argparse
import hashlib
import os

import numpy as np
import onnx
import torch

from common import CLASSES, REPO_ROOT, Classifier, build_backbone, load_checkpoint

MODEL_NAME = "layerwatch-effnet-lite0-v1"


def export(model, size, out_path, opset, metadata):
    model = model.eval()
    dummy = torch.rand(2, 3, size, size)
    torch.onnx.export(
        model,
        (dummy,),
        out_path,
        input_names=["image"],
        output_names=["probs"],
        dynamic_axes={"image": {0: "N"}, "probs": {0: "N"}},
        opset_version=opset,
        do_constant_folding=True,
        dynamo=False,
    )
    m = onnx.load(out_path)
    for k, v in metadata.items():
        p = m.metadata_props.add()
        p.key, p.value = k, str(v)
    m.producer_name = "layerwatch-training"
    onnx.checker.check_model(m)
    onnx.save(m, out_path)


def write_toml(onnx_path, size, toml_path, name=MODEL_NAME):
    digest = hashlib.sha256(open(onnx_path, "rb").read()).hexdigest()
    labels = ", ".join(f'"{c}"' for c in CLASSES)
    text = (
        f'name = "{name}"\n'
        f'onnx = "{os.path.basename(onnx_path)}"\n'
        f'sha256 = "{digest}"\n'
        f'input_name = "image"\n'
        f'output_name = "probs"\n'
        f"input_width = {size}\n"
        f"input_height = {size}\n"
        f'resize = "stretch"\n'
        f"labels = [{labels}]\n"
        f'normal_label = "normal"\n'
    )
    with open(toml_path, "w") as f:
        f.write(text)
    return digest


def check_against_torch(model, onnx_path, size, data_dir=None, n=8):
    """Max abs diff between PyTorch and onnxruntime probabilities (real images if data_dir is given)."""
    import onnxruntime as ort

    from common import load_rgb, read_labels, stretch_resize, to_tensor

    if data_dir and os.path.isdir(data_dir):
        rows = read_labels(data_dir, "val")[::70][:n]
        x = to_tensor(np.stack([stretch_resize(load_rgb(data_dir, r["path"]), size) for r in rows]))
    else:
        x = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(x).numpy()
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    got = sess.run(["probs"], {"image": x.numpy()})[0]
    one = sess.run(["probs"], {"image": x[:1].numpy()})[0]  # batch 1 works too
    return float(np.abs(ref - got).max()), float(np.abs(ref[:1] - one).max()), got.shape


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checkpoint", help="train.py checkpoint (.pt); omit for the ImageNet-init stub")
    ap.add_argument("--size", type=int, default=224, help="input size for the stub (checkpoints carry theirs)")
    ap.add_argument("--out-dir", default=str(REPO_ROOT / "models"))
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--data", default=None, help="dataset dir for the PyTorch-vs-ONNX check")
    args = ap.parse_args()
    torch.manual_seed(0)
    if args.checkpoint:
        model, ck = load_checkpoint(args.checkpoint)
        size = ck["image_size"]
        meta = {"temperature": float(model.temperature), "variant": ck["args"]["variant"],
                "epoch": ck["epoch"], "labels": ",".join(CLASSES)}
    else:
        size = args.size
        model = Classifier(build_backbone(image_size=size, pretrained=True))
        meta = {"temperature": 1.0, "variant": "imagenet-init-untrained-head", "labels": ",".join(CLASSES)}
    meta.update(input_range="RGB float32 in [0,1], stretch-resized", normalisation="(x-127/255)/(128/255) in graph")
    os.makedirs(args.out_dir, exist_ok=True)
    onnx_path = os.path.join(args.out_dir, "classifier.onnx")
    export(model, size, onnx_path, args.opset, meta)
    digest = write_toml(onnx_path, size, os.path.join(args.out_dir, "classifier.toml"))
    diff, diff1, shape = check_against_torch(model, onnx_path, size, args.data)
    print(f"wrote {onnx_path} ({os.path.getsize(onnx_path) / 1e6:.2f} MB, sha256 {digest})")
    print(f"onnxruntime vs PyTorch: output {shape}, max abs diff {diff:.2e} (batch), {diff1:.2e} (batch 1)")


if __name__ == "__main__":
    main()
