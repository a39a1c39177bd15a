"""Static int8 QDQ quantisation of an fp32 classifier (or feature) ONNX with onnxruntime, calibrated on
printer-camera frames: every real emptydeck and scythe frame plus the synthetic training composites made on them
(synth.py, a fixed seeded sample), each with the deployment preprocessing (stretch to 224, RGB / 255).

Weights int8 per channel (symmetric), activations uint8 per tensor; the input (`image`), the softmax and its
output stay float, so the I/O contract is unchanged. The graph is pre-processed first (shape inference,
optimisation) as onnxruntime recommends.
"""
import argparse
import os

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

import synth
from common import DEFAULT_DATA, REPO_ROOT, load_rgb, stretch_resize
from export import write_toml


class CameraFrames(CalibrationDataReader):
    def __init__(self, data_dir, input_name, n_synth, n_web=0, size=224, batch=8, seed=7):
        imgs = [stretch_resize(load_rgb(data_dir, r["path"]), size) for r in synth.camera_rows(data_dir)]
        if n_web:  # train-split photos of the other sources seen as a printer camera would (augment.py)
            from augment import printer_camera_augment
            from common import read_labels

            rows = [r for r in read_labels(data_dir, "train") if r["source"] not in synth.CAMERA_SOURCES]
            pick = np.random.default_rng(seed).choice(len(rows), n_web, replace=False)
            imgs += [printer_camera_augment(load_rgb(data_dir, rows[i]["path"]), size,
                                            np.random.default_rng([seed, int(i)])) for i in pick]
        rng = np.random.default_rng(seed)
        gen = synth.generate(data_dir, {"train"}, 1, seed)
        base = len(imgs)
        for n, (_, _, _, _, img) in enumerate(gen):
            if n % 6 == rng.integers(6) and len(imgs) < base + n_synth:
                imgs.append(stretch_resize(img, size))
        x = np.stack(imgs).astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        self.batches = [{input_name: x[i : i + batch]} for i in range(0, len(x), batch)]
        self.n = len(x)
        self.it = iter(self.batches)

    def get_next(self):
        return next(self.it, None)

    def rewind(self):
        self.it = iter(self.batches)


def quantize(fp32, out, data_dir, n_synth=200, method="minmax", n_web=0):
    pre = out + ".pre.onnx"
    quant_pre_process(fp32, pre, skip_symbolic_shape=True)
    name = onnx.load(pre).graph.input[0].name
    reader = CameraFrames(data_dir, name, n_synth, n_web)
    m = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
         "entropy": CalibrationMethod.Entropy}[method]
    quantize_static(pre, out, reader, quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True, calibrate_method=m,
                    nodes_to_exclude=[n.name for n in onnx.load(pre).graph.node if n.op_type in ("Softmax",)])
    os.remove(pre)
    # carry the fp32 model's metadata (temperature, variant, ...) over, marked as int8
    src, q = onnx.load(fp32), onnx.load(out)
    del q.metadata_props[:]
    for p in src.metadata_props:
        q.metadata_props.add(key=p.key, value=p.value)
    q.metadata_props.add(key="quantisation", value=f"static QDQ int8 ({method}), {reader.n} printer-camera frames")
    onnx.save(q, out)
    return reader.n


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--fp32", default=str(REPO_ROOT / "models" / "classifier.onnx"))
    ap.add_argument("--out", default=str(REPO_ROOT / "models" / "classifier-int8.onnx"))
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("--method", default="minmax", choices=["minmax", "percentile", "entropy"])
    ap.add_argument("--n-synth", type=int, default=200)
    ap.add_argument("--n-web", type=int, default=300,
                    help="plus this many printer-camera-augmented train photos of the web sources: with camera "
                         "frames alone, close-up photos overflow the calibrated ranges (sample p 0.86 -> 0.29)")
    args = ap.parse_args()
    n = quantize(args.fp32, args.out, args.data, args.n_synth, args.method, args.n_web)
    # the description beside it, named after the fp32 model's (classifier.toml beside --fp32)
    fp32_toml = os.path.splitext(args.fp32)[0] + ".toml"
    name = "layerwatch-classifier"
    if os.path.exists(fp32_toml):
        name = next(l.split('"')[1] for l in open(fp32_toml) if l.startswith("name"))
    digest = write_toml(args.out, 224, os.path.splitext(args.out)[0] + ".toml", f"{name}-int8")
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB, sha256 {digest}), calibrated on {n} frames")


if __name__ == "__main__":
    main()
