"""Synthetic failure kinds made on real printer-camera frames (emptydeck P1, scythe), for training and for the
printer-camera part of the leave-one-camera-out protocol (loco.py).

The dataset has almost no failures seen by a fixed printer camera, and none of the kinds users lose prints to
(first-layer/adhesion blobs, a part knocked off the bed, air printing). Each kind below edits one real normal
frame of a printer camera; the label says which output class it trains:

* `spaghetti_paste` (spaghetti): a `boxes.csv` spaghetti box of a kapis20 photo, cut with a feathered irregular
  mask, scaled to print size (8-30 % of the frame width), its brightness/contrast pulled part-way to the
  frame's, and blended in over the print area (`PRINT_AREA`, per camera).
* `fail_paste` (other_failure): the same with an rf_qa3dprinting `fail` box.
* `air_strands` (spaghetti): air printing -- 8-40 thin smooth random curves of the print's own filament colour,
  with shading, tangled around and above the print region.
* `nozzle_blob` (other_failure): a first-layer/adhesion blob -- an irregular shaded lump of filament colour
  (union of ellipses with a highlight) at the top of the print region (where the nozzle is).
* `detached` (other_failure): part knocked off -- a print-sized patch of the print area is cut out, its place
  inpainted (OpenCV Telea: a bare bed, roughly), and the patch pasted back toppled (rotated 60-120 degrees)
  beside its old place; air-printed strands where it stood in half of them.
* `normal_paste` (normal, a control): a crop of a *normal* photo (autozmj2n/snu) pasted exactly like
  `spaghetti_paste`, so that "something was pasted" is not by itself a failure cue.

Warping / lifted corners are not made (no geometry to do it believably from these frames).
Donor crops come from a given set of dataset splits, so evaluation composites (val/test donors) never share a
crop with training composites (train donors).
"""
import csv
import os
from collections import defaultdict

import cv2
import numpy as np

from common import load_rgb, read_labels

cv2.setNumThreads(1)

KINDS = ["spaghetti_paste", "fail_paste", "air_strands", "nozzle_blob", "detached", "normal_paste"]
KIND_CLASS = {"spaghetti_paste": 1, "fail_paste": 4, "air_strands": 1, "nozzle_blob": 4, "detached": 4,
              "normal_paste": 0}
CAMERA_SOURCES = ("emptydeck", "scythe")


def read_boxes(data_dir):
    boxes = defaultdict(list)
    with open(os.path.join(data_dir, "boxes.csv"), newline="") as f:
        for r in csv.DictReader(f):
            boxes[r["path"]].append((r["class"], *(float(r[k]) for k in ("x_center", "y_center", "w", "h"))))
    return boxes


class Donors:
    """Crops to paste: spaghetti (kapis20 boxes), fail (rf_qa3dprinting boxes), normal (autozmj2n/snu normals)."""

    def __init__(self, data_dir, splits, min_px=24):
        rows = read_labels(data_dir)
        boxes = read_boxes(data_dir)
        self.data_dir = data_dir
        self.items = {"spaghetti": [], "fail": [], "normal": []}
        for r in rows:
            if r["split"] not in splits:
                continue
            if r["source"] == "kapis20" or r["source"] == "rf_qa3dprinting":
                for cls, xc, yc, w, h in boxes.get(r["path"], []):
                    key = "spaghetti" if cls == "spaghetti" else "fail"
                    if (r["source"] == "kapis20") != (key == "spaghetti"):
                        continue
                    if w < 0.97 or h < 0.97:  # whole-image boxes carry the photo's own background: skip
                        self.items[key].append((r["path"], (xc, yc, w, h)))
            elif r["source"] in ("autozmj2n", "snu") and r["label"] == "normal":
                self.items["normal"].append((r["path"], None))
        self.min_px = min_px
        self._cache = {}

    def crop(self, key, rng):
        items = self.items[key]
        for _ in range(20):
            path, box = items[rng.integers(len(items))]
            img = self._cache.get(path)
            if img is None:
                img = self._cache[path] = load_rgb(self.data_dir, path)
            H, W = img.shape[:2]
            if box is None:  # normal photo: a random crop around its centre, where the print usually is
                w, h = rng.uniform(0.35, 0.7), rng.uniform(0.35, 0.7)
                xc, yc = 0.5 + rng.uniform(-0.15, 0.15), 0.5 + rng.uniform(-0.15, 0.15)
            else:
                xc, yc, w, h = box
                w, h = w * rng.uniform(1.0, 1.15), h * rng.uniform(1.0, 1.15)
            x0, x1 = int(max(0, (xc - w / 2) * W)), int(min(W, (xc + w / 2) * W))
            y0, y1 = int(max(0, (yc - h / 2) * H)), int(min(H, (yc + h / 2) * H))
            if x1 - x0 >= self.min_px and y1 - y0 >= self.min_px:
                return img[y0:y1, x0:x1]
        raise RuntimeError(f"no donor crop of kind {key} of at least {self.min_px} px")


# ---------------------------------------------------------------- where the print is
# Where prints stand in each camera's view, as fractions of the frame (x0, y0, x1, y1), read off the frames:
# emptydeck P1 is a close side view (the part under the hotend, centre-bottom); scythe looks down at the bed.
# (Differencing the first and last frame of a sequence was tried: the moving hotend/gantry dominates it.)
PRINT_AREA = {"emptydeck": (0.3, 0.5, 0.7, 0.97), "scythe": (0.25, 0.4, 0.8, 0.95)}


def _region(img, source, rng):
    H, W = img.shape[:2]
    ax0, ay0, ax1, ay1 = PRINT_AREA.get(source, (0.25, 0.35, 0.75, 0.9))
    fw, fh = rng.uniform(0.12, 0.3), rng.uniform(0.12, 0.3)
    x0 = rng.uniform(ax0, max(ax0, ax1 - fw))
    y0 = rng.uniform(ay0, max(ay0, ay1 - fh))
    return int(x0 * W), int(y0 * H), int(min(1, x0 + fw) * W), int(min(1, y0 + fh) * H)


def _filament_colour(img, box, rng):
    x0, y0, x1, y1 = box
    patch = img[y0:y1, x0:x1].reshape(-1, 3).astype(np.float32)
    if rng.random() < 0.6 and len(patch):
        c = np.median(patch, axis=0)  # the print's own colour (roughly)
    else:
        c = np.array([[230, 230, 225], [30, 30, 30], [200, 40, 40], [40, 90, 200], [240, 200, 40],
                      [60, 170, 70], [240, 120, 30], [220, 120, 170]], np.float32)[rng.integers(8)]
    return np.clip(c * rng.uniform(0.8, 1.2), 0, 255)


# ---------------------------------------------------------------- compositing primitives
def irregular_mask(h, w, rng, feather=0.08):
    """Feathered blob-shaped alpha mask (float32 h x w in [0,1])."""
    m = np.zeros((h, w), np.float32)
    n = int(rng.integers(3, 7))
    for _ in range(n):
        cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
        ax, ay = rng.uniform(0.25, 0.5) * w, rng.uniform(0.25, 0.5) * h
        cv2.ellipse(m, (int(cx), int(cy)), (max(1, int(ax)), max(1, int(ay))), rng.uniform(0, 180), 0, 360, 1.0, -1)
    s = max(1.0, feather * min(h, w))
    return cv2.GaussianBlur(m, (0, 0), sigmaX=s)


def blend(base, patch, x, y, alpha):
    """Alpha-blend patch (float alpha h x w) into base (uint8) at x, y, clipped to the frame."""
    H, W = base.shape[:2]
    h, w = patch.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return base
    p = patch[y0 - y : y1 - y, x0 - x : x1 - x].astype(np.float32)
    a = alpha[y0 - y : y1 - y, x0 - x : x1 - x, None]
    roi = base[y0:y1, x0:x1].astype(np.float32)
    base[y0:y1, x0:x1] = np.clip(a * p + (1 - a) * roi, 0, 255).astype(np.uint8)
    return base


def _match_light(patch, base_roi, strength):
    """Pull the patch's mean and contrast towards the local frame (the camera's light), partly."""
    p = patch.astype(np.float32)
    b = base_roi.astype(np.float32)
    pm, ps = p.mean((0, 1)), p.std() + 1e-3
    bm, bs = b.mean((0, 1)), b.std() + 1e-3
    q = (p - pm) * (1 + strength * (bs / ps - 1)) + pm + strength * (bm - pm)
    return np.clip(q, 0, 255)


def paste_crop(base, crop, box, rng):
    H, W = base.shape[:2]
    x0, y0, x1, y1 = box
    tw = int(W * rng.uniform(0.08, 0.3))
    th = int(np.clip(tw * crop.shape[0] / crop.shape[1] * rng.uniform(0.8, 1.25), 12, 0.6 * H))
    tw = max(12, tw)
    patch = cv2.resize(crop, (tw, th), interpolation=cv2.INTER_AREA if tw < crop.shape[1] else cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    cx = int(rng.uniform(x0, x1)) if x1 > x0 else W // 2
    cy = int(rng.uniform(y0, y1)) if y1 > y0 else H // 2
    x, y = int(np.clip(cx - tw // 2, 0, W - tw)), int(np.clip(cy - th // 2 - rng.uniform(0, 0.3) * th, 0, H - th))
    patch = _match_light(patch, base[y : y + th, x : x + tw], rng.uniform(0.2, 0.6))
    return blend(base, patch, x, y, irregular_mask(th, tw, rng) * rng.uniform(0.85, 1.0))


def _curve(rng, cx, cy, span, n=40):
    pts = [np.array([cx, cy], np.float64)]
    ang = rng.uniform(0, 2 * np.pi)
    step = span / n * rng.uniform(0.6, 1.6)
    for _ in range(n):
        ang += rng.normal(0, 0.5)
        pts.append(pts[-1] + step * np.array([np.cos(ang), np.sin(ang)]))
    return np.array(pts, np.int32)


def air_strands(base, box, rng, colour=None):
    H, W = base.shape[:2]
    x0, y0, x1, y1 = box
    colour = _filament_colour(base, box, rng) if colour is None else colour
    layer = np.zeros_like(base)
    mask = np.zeros(base.shape[:2], np.float32)
    span = max(12, int(max(x1 - x0, y1 - y0) * rng.uniform(0.6, 1.5)))
    th = max(1, int(round(W / 448 * rng.uniform(1, 2.5))))
    for _ in range(int(rng.integers(8, 40))):
        cx, cy = rng.uniform(x0, x1 + 1), rng.uniform(y0 - 0.3 * (y1 - y0), y1)
        c = tuple(float(v) for v in np.clip(colour * rng.uniform(0.6, 1.3), 0, 255))
        pts = _curve(rng, cx, cy, span)
        cv2.polylines(layer, [pts], False, c, th, cv2.LINE_AA)
        cv2.polylines(mask, [pts], False, 1.0, th, cv2.LINE_AA)
    return blend(base, layer, 0, 0, np.clip(mask, 0, 1) * rng.uniform(0.7, 1.0))


def nozzle_blob(base, box, rng):
    H, W = base.shape[:2]
    x0, y0, x1, y1 = box
    colour = _filament_colour(base, box, rng)
    r = max(4, int(W * rng.uniform(0.02, 0.06)))
    cx = int(rng.uniform(x0, x1 + 1))
    cy = int(y0 + rng.uniform(-0.1, 0.4) * max(1, y1 - y0))
    size = 3 * r
    m = np.zeros((2 * size, 2 * size), np.float32)
    for _ in range(int(rng.integers(3, 8))):
        c = (int(size + rng.normal(0, r * 0.5)), int(size + rng.normal(0, r * 0.5)))
        cv2.ellipse(m, c, (max(2, int(r * rng.uniform(0.4, 1.0))), max(2, int(r * rng.uniform(0.3, 0.9)))),
                    rng.uniform(0, 180), 0, 360, 1.0, -1)
    m = cv2.GaussianBlur(m, (0, 0), sigmaX=max(1.0, r * 0.15))
    yy, xx = np.mgrid[0 : 2 * size, 0 : 2 * size].astype(np.float32)
    lx, ly = size - r * 0.4, size - r * 0.4  # light from the top-left: a highlight and a darker underside
    shade = 0.55 + 0.6 * np.exp(-((xx - lx) ** 2 + (yy - ly) ** 2) / (2 * (0.8 * r) ** 2))
    patch = np.clip(colour[None, None, :] * shade[:, :, None], 0, 255)
    patch += rng.normal(0, 6, patch.shape)
    return blend(base, patch, cx - size, cy - size, m)


def detached(base, box, rng):
    """Part knocked off: its place inpainted (bare bed), the part toppled beside it, sometimes strands."""
    H, W = base.shape[:2]
    x0, y0, x1, y1 = box
    part = base[y0:y1, x0:x1].copy()
    hole = np.zeros((H, W), np.uint8)
    cv2.ellipse(hole, ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2), 0, 0, 360, 255, -1)
    out = cv2.inpaint(base, hole, 5, cv2.INPAINT_TELEA)
    ang = rng.choice([-1, 1]) * rng.uniform(60, 120)
    h, w = part.shape[:2]
    R = cv2.getRotationMatrix2D((w / 2, h / 2), ang, 1.0)
    cos, sin = abs(R[0, 0]), abs(R[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    R[0, 2] += nw / 2 - w / 2
    R[1, 2] += nh / 2 - h / 2
    rot = cv2.warpAffine(part, R, (nw, nh))
    am = cv2.GaussianBlur(cv2.warpAffine(irregular_mask(h, w, rng, 0.04), R, (nw, nh)), (0, 0), 1.0)
    dx = int(rng.choice([-1, 1]) * rng.uniform(0.6, 1.4) * (x1 - x0))
    nx = int(np.clip((x0 + x1) / 2 + dx - nw / 2, 0, max(0, W - nw)))
    ny = int(np.clip(y1 - nh + rng.uniform(0, 0.2) * nh, 0, max(0, H - nh)))
    blend(out, rot, nx, ny, am)
    if rng.random() < 0.5:
        out = air_strands(out, (x0, y0, x1, (y0 + y1) // 2), rng, colour=_filament_colour(base, box, rng))
    return out


def make(kind, base, source, donors, rng):
    """One composite of `kind` on the camera frame `base` (uint8 RGB) of camera `source`."""
    img = base.copy()
    region = _region(img, source, rng)
    if kind == "spaghetti_paste":
        return paste_crop(img, donors.crop("spaghetti", rng), region, rng)
    if kind == "fail_paste":
        return paste_crop(img, donors.crop("fail", rng), region, rng)
    if kind == "normal_paste":
        return paste_crop(img, donors.crop("normal", rng), region, rng)
    if kind == "air_strands":
        return air_strands(img, region, rng)
    if kind == "nozzle_blob":
        return nozzle_blob(img, region, rng)
    if kind == "detached":
        return detached(img, region, rng)
    raise ValueError(kind)


def camera_rows(data_dir):
    return [r for r in read_labels(data_dir) if r["source"] in CAMERA_SOURCES and r["label"] == "normal"]


def generate(data_dir, splits, variants, seed):
    """Yield (row of the base frame, kind, variant, class, image) for every camera frame, kind and variant."""
    rows = camera_rows(data_dir)
    donors = Donors(data_dir, splits)
    for i, r in enumerate(rows):
        base = load_rgb(data_dir, r["path"])
        for v in range(variants):
            for k, kind in enumerate(KINDS):
                rng = np.random.default_rng([seed, i, v, k])
                yield r, kind, v, KIND_CLASS[kind], make(kind, base, r["source"], donors, rng)
