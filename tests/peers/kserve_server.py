#!/usr/bin/env python3
"""A real KServe model server (Open Inference Protocol v2, REST) serving our ONNX model with onnxruntime.

    kserve_server.py --http_port PORT --model models/classifier.onnx --input image --output probs
                     [--name classifier] [--delay-ms N] [--token T] [--advertise-input NAME]
                     [--advertise-shape -1,3,224,224] [--advertise-datatype FP32]

The `kserve` package's own `ModelServer` (FastAPI/uvicorn) answers `GET /v2/models/{name}` (metadata),
`GET /v2/models/{name}/ready` and `POST /v2/models/{name}/infer`; this file is only the model class that
runs the ONNX file on onnxruntime's CPU provider, as a farm's inference server would.

Test knobs, each off by default:
- `--delay-ms`: sleep that long before every inference (a slow or overloaded server, for timeouts);
- `--token`: answer 401 unless the request carries `Authorization: Bearer <token>`;
- `--advertise-*`: announce another input name, shape or datatype in the metadata than the model has
  (a server serving a different model, for the metadata check).

Prints `READY <port>` on stdout once the model is loaded; the server itself starts right after. Used by
tests/vision_kserve.rs and scripts/bench_remote.sh; needs .tools/venv-kserve (scripts/setup.sh test).
"""

import argparse
import asyncio
import sys

import numpy as np
import onnxruntime as ort
from kserve import Model, ModelServer, model_server
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse


class OnnxModel(Model):
    def __init__(self, args):
        super().__init__(args.name)
        self.args = args
        self.session = None

    def load(self):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.args.threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self.args.model, opts, providers=["CPUExecutionProvider"])
        self.ready = True
        return self.ready

    def _meta(self, io):
        return {"name": io.name, "datatype": "FP32", "shape": [d if isinstance(d, int) else -1 for d in io.shape]}

    def get_input_types(self):
        m = self._meta(self.session.get_inputs()[0])
        a = self.args
        if a.advertise_input:
            m["name"] = a.advertise_input
        if a.advertise_shape:
            m["shape"] = [int(v) for v in a.advertise_shape.split(",")]
        if a.advertise_datatype:
            m["datatype"] = a.advertise_datatype
        return [m]

    def get_output_types(self):
        return [self._meta(o) for o in self.session.get_outputs()]

    async def predict(self, payload: InferRequest, headers=None, response_headers=None):
        if self.args.token:
            auth = (headers or {}).get("authorization", "")
            if auth != f"Bearer {self.args.token}":
                # kserve maps this to 400; the client must treat it as "not usable", not retry forever.
                raise InvalidInput("unauthorized: missing or wrong bearer token")
        if self.args.delay_ms:
            await asyncio.sleep(self.args.delay_ms / 1000.0)
        inp = payload.inputs[0]
        x = inp.as_numpy().astype(np.float32, copy=False)
        name = self.session.get_inputs()[0].name
        (probs,) = self.session.run([self.args.output], {name: x})
        out = InferOutput(name=self.args.output, shape=list(probs.shape), datatype="FP32")
        out.set_data_from_numpy(probs.astype(np.float32), binary_data=False)
        return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=[out])


def main():
    p = argparse.ArgumentParser(parents=[model_server.parser])
    p.add_argument("--name", default="classifier")
    p.add_argument("--model", required=True, help="the .onnx file")
    p.add_argument("--output", default="probs")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--delay-ms", dest="delay_ms", type=int, default=0)
    p.add_argument("--token", default="")
    p.add_argument("--advertise-input", dest="advertise_input", default="")
    p.add_argument("--advertise-shape", dest="advertise_shape", default="")
    p.add_argument("--advertise-datatype", dest="advertise_datatype", default="")
    args, _ = p.parse_known_args()
    m = OnnxModel(args)
    m.load()
    print(f"READY {args.http_port}", flush=True)
    ModelServer(
        http_port=args.http_port, enable_grpc=False, workers=1, enable_latency_logging=False
    ).start([m])


if __name__ == "__main__":
    sys.exit(main())
