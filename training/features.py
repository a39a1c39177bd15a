"""The v2 network: the ImageNet EfficientNet-Lite0 backbone kept frozen, read out at several depths, and a small
trained head on top.

`Features` maps a [0,1] RGB batch to one vector per image: global average pools of the outputs of stages 4-7
(80, 112, 192, 320 channels) and the global average and global max pool of the 1280-channel head conv.
The max pool is there for small parts in a wide frame: a failure that covers 2 % of the picture barely moves
an average. `FEATURE_BLOCKS` names the pieces; heads choose which to use (see loco.py).

`V2Classifier` = Features -> standardisation folded into the head's first layer -> head -> softmax(logits / T):
exactly the v1 contract (input `image` [N,3,H,W] RGB in [0,1], output `probs` [N,5]).
"""
import numpy as np
import torch
from torch import nn

from common import MEAN, STD, build_backbone

# (name, width); the order of the concatenated feature vector
FEATURE_BLOCKS = [("s4_avg", 80), ("s5_avg", 112), ("s6_avg", 192), ("s7_avg", 320), ("head_avg", 1280),
                  ("head_max", 1280)]
STAGE_ENDS = {7: "s4_avg", 10: "s5_avg", 14: "s6_avg", 15: "s7_avg"}  # last MBConv block index of each stage
FEATURE_DIM = sum(w for _, w in FEATURE_BLOCKS)


def block_slices():
    out, o = {}, 0
    for name, w in FEATURE_BLOCKS:
        out[name] = slice(o, o + w)
        o += w
    return out


def feature_index(names):
    sl = block_slices()
    return np.concatenate([np.arange(sl[n].start, sl[n].stop) for n in names])


class Features(nn.Module):
    def __init__(self, net=None):
        super().__init__()
        self.net = build_backbone(pretrained=True) if net is None else net
        self.net.eval()
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))

    def forward(self, x):
        net = self.net
        x = net._swish(net._bn0(net._conv_stem((x - self.mean) / self.std)))
        outs = []
        for idx, block in enumerate(net._blocks):
            x = block(x)
            if idx in STAGE_ENDS:
                outs.append(x.mean((2, 3)))
        x = net._swish(net._bn1(net._conv_head(x)))
        outs += [x.mean((2, 3)), x.amax((2, 3))]
        return torch.cat(outs, 1)


class SpatialFeatures(Features):
    """The 1280-channel head-conv map (7x7 at 224 px), flattened to [N, 49, 1280]: one vector per cell."""

    def forward(self, x):
        net = self.net
        x = net._swish(net._bn0(net._conv_stem((x - self.mean) / self.std)))
        for block in net._blocks:
            x = block(x)
        x = net._swish(net._bn1(net._conv_head(x)))
        return x.flatten(2).transpose(1, 2)


class V2Classifier(nn.Module):
    """Frozen features -> (selected dims, standardised) -> linear or one-hidden-layer head -> softmax(z / T)."""

    def __init__(self, head_state, temperature=1.0):
        super().__init__()
        self.features = Features()
        idx = torch.as_tensor(head_state["index"], dtype=torch.long)
        mu = torch.as_tensor(head_state["mu"], dtype=torch.float32)
        sd = torch.as_tensor(head_state["sd"], dtype=torch.float32)
        layers = head_state["layers"]  # list of (W [out,in], b [out]); ReLU between them
        # fold selection + standardisation into the first layer: W (x[idx] - mu) / sd  ==  W' x + b'
        W0, b0 = torch.as_tensor(layers[0][0]), torch.as_tensor(layers[0][1])
        Wf = torch.zeros(W0.shape[0], FEATURE_DIM)
        Wf[:, idx] = W0 / sd
        bf = b0 - (W0 / sd) @ mu
        mods = [nn.Linear(FEATURE_DIM, W0.shape[0])]
        mods[0].weight.data, mods[0].bias.data = Wf, bf
        for W, b in layers[1:]:
            lin = nn.Linear(W.shape[1], W.shape[0])
            lin.weight.data, lin.bias.data = torch.as_tensor(W), torch.as_tensor(b)
            mods += [nn.ReLU(), lin]
        self.head = nn.Sequential(*mods)
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def logits(self, x):
        return self.head(self.features(x))

    def forward(self, x):
        return torch.softmax(self.logits(x) / self.temperature, dim=1)


class V2SpatialClassifier(nn.Module):
    """SpatialFeatures -> per-cell linear classifier (standardisation folded in) -> pooled (loco.pool_cells)
    -> softmax(z / T): normal = mean of the cells' normal logits, failure classes = log-mean-exp(r l) / r."""

    def __init__(self, head_state, temperature=1.0):
        super().__init__()
        self.features = SpatialFeatures()
        W, b = (torch.as_tensor(a, dtype=torch.float32) for a in head_state["layers"][0])
        mu = torch.as_tensor(head_state["mu"], dtype=torch.float32)
        sd = torch.as_tensor(head_state["sd"], dtype=torch.float32)
        self.cell = nn.Linear(W.shape[1], W.shape[0])
        self.cell.weight.data = W / sd
        self.cell.bias.data = b - (W / sd) @ mu
        self.r = float(head_state["r"])
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def logits(self, x):
        lc = self.cell(self.features(x))  # [N, cells, 5]
        normal = lc[:, :, :1].mean(1)
        fail = (torch.logsumexp(self.r * lc[:, :, 1:], dim=1) - float(np.log(lc.shape[1]))) / self.r
        return torch.cat([normal, fail], 1)

    def forward(self, x):
        return torch.softmax(self.logits(x) / self.temperature, dim=1)


def export_features_onnx(path, size=224, spatial=False):
    m = (SpatialFeatures() if spatial else Features()).eval()
    torch.onnx.export(m, (torch.rand(2, 3, size, size),), str(path), input_names=["image"], output_names=["f"],
                      dynamic_axes={"image": {0: "N"}, "f": {0: "N"}}, opset_version=17, dynamo=False)
