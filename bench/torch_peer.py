#!/usr/bin/python3
"""PyTorch running Kiln's models: the peer that `kiln bench --vs-torch` measures against.

--model is Kiln's mnist-cnn (fashion-cnn has the same layers): Conv2D(64, 3x3, relu) ->
MaxPool 2x2 -> Conv2D(64, 3x3, relu) -> MaxPool 2x2 -> Flatten -> Dense(128, relu) -> Dense(10),
243,786 parameters; or a twin of a zoo model (bench/zoo/zoo.cc), layer for layer ("same"
padding of stride-2 convs is symmetric here, asymmetric in Keras: the shapes and the work
match). Softmax cross-entropy, Adam(lr=1e-3), NCHW 1x28x28 input.

Modes (each one timed sample: as many steps as fill --min_seconds, reported as images/s):
  train                 a training step as a user writes it: zero_grad, forward, loss,
                        backward, step
  train_channels_last   the same with model and input in torch.channels_last
  infer_default         eval() under torch.no_grad(), softmax included
  infer_mkldnn          torch.utils.mkldnn.to_mkldnn(model) on an mkldnn input tensor
  infer_jit             torch.jit.optimize_for_inference(torch.jit.script(model.eval()))

  torch_peer.py --batch 64 --threads 2 --once train     one sample, one JSON line
  torch_peer.py --batch 64 --threads 2 --serve          JSON "ready" line, then per stdin line
                                                        "MODE [MIN_SECONDS]" one JSON line;
                                                        "quit" or end of input stops
Every mode is set up and warmed up on its first request. Run it with /usr/bin/python3 (Debian's
python3-torch, installed by `scripts/setup.sh --torch`).
"""
import argparse
import copy
import json
import sys
import time

MODES = ("train", "train_channels_last", "infer_default", "infer_mkldnn", "infer_jit")


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.utils.mkldnn
except ImportError as e:  # Kiln turns this into "run scripts/setup.sh --torch".
    emit({"error": "PyTorch is not installed for %s (%s): run scripts/setup.sh --torch" %
          (sys.executable, e), "missing_torch": True})
    sys.exit(3)


def seed_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(5 * 5 * 64, 128), nn.ReLU(), nn.Linear(128, 10))


class Residual(nn.Module):
    """x + conv(relu(conv(x))), then ReLU: the zoo's residual block."""

    def __init__(self, c):
        super().__init__()
        self.a = nn.Conv2d(c, c, 3, padding=1)
        self.b = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return F.relu(x + self.b(F.relu(self.a(x))))


def conv(cin, cout, k, stride=1, same=False):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2 if same else 0)


MODELS = {
    "mnist-cnn": seed_cnn,
    "fashion-cnn": seed_cnn,
    "zoo-seed": seed_cnn,
    "zoo-exercise": lambda: nn.Sequential(
        conv(1, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(13 * 13 * 64, 128), nn.ReLU(), nn.Linear(128, 10)),
    "zoo-dense": lambda: nn.Sequential(
        nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10)),
    "zoo-lenet": lambda: nn.Sequential(
        conv(1, 32, 5, same=True), nn.Tanh(), nn.AvgPool2d(2),
        conv(32, 48, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(5 * 5 * 48, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Tanh(),
        nn.Linear(84, 10)),
    "zoo-vgg": lambda: nn.Sequential(
        conv(1, 32, 3, same=True), nn.ReLU(), conv(32, 32, 3, same=True), nn.ReLU(),
        nn.MaxPool2d(2),
        conv(32, 64, 3, same=True), nn.ReLU(), conv(64, 64, 3, same=True), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(7 * 7 * 64, 256), nn.ReLU(), nn.Linear(256, 10)),
    "zoo-allconv": lambda: nn.Sequential(
        conv(1, 24, 3, same=True), nn.ReLU(), conv(24, 40, 3, 2, same=True), nn.ReLU(),
        conv(40, 40, 3, same=True), nn.ReLU(), conv(40, 80, 3, 2, same=True), nn.ReLU(),
        conv(80, 80, 3), nn.ReLU(), nn.Flatten(), nn.Linear(5 * 5 * 80, 10)),
    "zoo-resnet": lambda: nn.Sequential(
        conv(1, 32, 3, same=True), nn.ReLU(), Residual(32), nn.MaxPool2d(2),
        conv(32, 64, 3, same=True), nn.ReLU(), Residual(64), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(7 * 7 * 64, 10)),
    "zoo-overlap": lambda: nn.Sequential(
        conv(1, 32, 3), nn.ReLU(), nn.MaxPool2d(3, 2),
        conv(32, 64, 3), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Linear(4 * 4 * 64, 128), nn.ReLU(), nn.Linear(128, 10)),
    "zoo-wide": lambda: nn.Sequential(
        conv(1, 128, 5), nn.ReLU(), nn.MaxPool2d(2),
        conv(128, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(5 * 5 * 32, 10)),
}


class Peer:
    def __init__(self, model, batch, threads, seed=1):
        torch.manual_seed(seed)
        torch.set_num_threads(threads)
        self.batch = batch
        self.model = MODELS[model]()
        self.images = torch.rand(batch, 1, 28, 28)
        self.labels = torch.arange(batch) % 10
        self.steps = {}  # mode -> a function running one step

    def params(self):
        return sum(p.numel() for p in self.model.parameters())

    def _train_step(self, channels_last):
        model = copy.deepcopy(self.model)
        x, y = self.images, self.labels
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            x = x.to(memory_format=torch.channels_last)
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        return step

    def _infer_step(self, mode):
        model = nn.Sequential(copy.deepcopy(self.model), nn.Softmax(dim=1)).eval()
        x = self.images
        if mode == "infer_mkldnn":
            model = torch.utils.mkldnn.to_mkldnn(model)
            x = x.to_mkldnn()
        elif mode == "infer_jit":
            with torch.no_grad():
                model = torch.jit.optimize_for_inference(torch.jit.script(model))

        def step():
            with torch.no_grad():
                out = model(x)
                if out.is_mkldnn:
                    out = out.to_dense()
            return out
        return step

    def step_for(self, mode):
        if mode not in self.steps:
            if mode not in MODES:
                raise ValueError("unknown mode '%s' (modes: %s)" % (mode, ", ".join(MODES)))
            step = (self._train_step(mode == "train_channels_last") if mode.startswith("train")
                    else self._infer_step(mode))
            # Warm up (the allocator, oneDNN's primitive cache, the TorchScript profiling runs):
            # at least 5 steps and 0.5 s.
            start, runs = time.perf_counter(), 0
            while runs < 5 or time.perf_counter() - start < 0.5:
                step()
                runs += 1
            self.steps[mode] = step
        return self.steps[mode]

    def sample(self, mode, min_seconds):
        step = self.step_for(mode)
        runs = 0
        start = time.perf_counter()
        while True:
            step()
            runs += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        return {"mode": mode, "images_per_second": runs * self.batch / elapsed,
                "seconds_per_step": elapsed / runs, "runs": runs}

    def safe_sample(self, mode, min_seconds):
        try:
            return self.sample(mode, min_seconds)
        except Exception as e:  # A mode this build cannot run: report it, keep serving.
            return {"mode": mode, "error": "%s: %s" % (type(e).__name__, e)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mnist-cnn")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min_seconds", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--once", choices=MODES, help="time one sample of MODE and exit")
    group.add_argument("--serve", action="store_true", help="answer MODE requests on stdin")
    args = parser.parse_args()
    if args.model not in MODELS:
        emit({"error": "the PyTorch peer knows only %s, not '%s'" %
              (", ".join(MODELS), args.model)})
        return 2
    if args.batch < 1 or args.threads < 1:
        emit({"error": "--batch and --threads must be positive"})
        return 2
    peer = Peer(args.model, args.batch, args.threads, args.seed)
    info = {"torch_version": torch.__version__, "params": peer.params(), "model": args.model,
            "batch": args.batch, "threads": torch.get_num_threads()}
    if args.once:
        result = peer.safe_sample(args.once, args.min_seconds)
        result.update(info)
        emit(result)
        return 1 if "error" in result else 0
    emit(dict(ready=True, modes=list(MODES), **info))
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        try:
            min_seconds = float(words[1]) if len(words) > 1 else args.min_seconds
        except ValueError:
            emit({"mode": words[0], "error": "bad MIN_SECONDS '%s'" % words[1]})
            continue
        emit(peer.safe_sample(words[0], min_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
