"""The same network in PyTorch, timed in a child process (``bench.py --torch-worker``) driven
over a pipe: one JSON request per line on its stdin, one JSON reply per line on its stdout.

Why not in this process: once PyTorch has run, its OpenMP worker threads slow NumPy and
OpenBLAS in the same process (measured; see BENCHMARKS.md), which would bias every ratio.
PyTorch is never a dependency: without it the comparison is skipped.
"""
from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import traceback

import numpy as np

from . import CHANNELS, T_STEPS, TIME_EMB, UNET_GROUPS, UNET_WIDTHS
from .harness import run_block

_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BENCH = os.path.join(_ROOT, "scripts", "bench.py")
_TWIN = os.path.join(_ROOT, "tests", "torch_twin.py")


def build_torch_unet(model="simple"):
    """The SimpleUnet (``model="simple"``) or the residual Unet (``"unet"``) in PyTorch
    (``tests/torch_twin.py``, which tests/diffusion/test_unet.py checks against ours), same
    attribute names."""
    spec = importlib.util.spec_from_file_location("torch_twin", _TWIN)
    twin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(twin)
    if model == "unet":
        return twin.torch_unet(widths=UNET_WIDTHS, in_channels=3, groups=UNET_GROUPS)
    return twin.torch_simple_unet(CHANNELS, in_channels=3, time_emb_dim=TIME_EMB)


class TorchWorkload:
    """The PyTorch twin of ``workload.AnWorkload``: same weights (arrayneedle's state_dict),
    same inputs, same schedule arithmetic. ``data``: the arrays ``AnWorkload.export`` wrote."""

    def __init__(self, torch, tdev, data, coefs, model="simple"):
        self.torch = torch
        self.model = build_torch_unet(model).to(tdev)
        sd = {k[3:]: torch.tensor(data[k]) for k in data.files if k.startswith("sd/")}
        missing, unexpected = self.model.load_state_dict(sd, strict=False)
        self.weights_copied = not missing and not unexpected
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-4)
        self.x0 = torch.tensor(data["x0"], device=tdev)
        self.noise = torch.tensor(data["noise"], device=tdev)
        self.t = torch.tensor(data["t"], device=tdev)
        self.sab = torch.tensor(data["sqrt_alphas_cumprod"], device=tdev)
        self.s1mab = torch.tensor(data["sqrt_one_minus_alphas_cumprod"], device=tdev)
        self.coefs = coefs
        self.t_half = torch.full((self.x0.shape[0],), T_STEPS // 2, dtype=torch.int64,
                                 device=tdev)
        # the same train-mode forward arrayneedle ran before exporting: outputs must agree
        with torch.no_grad():
            out = self.model(self.x0, self.t).cpu().numpy()
        self.max_abs_diff = float(np.max(np.abs(out - data["an_out"])))

    def train_step(self):
        torch = self.torch
        self.model.train()
        self.opt.zero_grad(set_to_none=True)
        a = self.sab[self.t].reshape(-1, 1, 1, 1)
        s = self.s1mab[self.t].reshape(-1, 1, 1, 1)
        xt = a * self.x0 + s * self.noise
        loss = torch.mean((self.model(xt, self.t) - self.noise) ** 2)
        loss.backward()
        self.opt.step()
        return loss

    def sample_step(self):
        torch, c = self.torch, self.coefs
        self.model.eval()
        with torch.no_grad():
            x = self.noise
            eps = self.model(x, self.t_half)
            x0 = (c["sqrt_recip_alphas_cumprod"] * x - c["sqrt_recipm1_alphas_cumprod"] * eps)
            x0 = x0.clamp(-1, 1)
            mean = c["posterior_mean_coef1"] * x0 + c["posterior_mean_coef2"] * x
            out = mean + math.exp(0.5 * c["posterior_log_variance_clipped"]) * torch.randn_like(x)
        self.model.train()
        return out


class TorchWorker:
    """The parent's end of the pipe to the PyTorch child process."""

    def __init__(self, device, threads):
        cmd = [sys.executable, _BENCH, "--torch-worker", "--device", device,
               "--threads", str(threads)]
        env = dict(os.environ)
        from arrayneedle.kernels import cpu_kernels
        if cpu_kernels()["gomp_spincount"]:  # ours, for oneDNN's libgomp: PyTorch keeps its own
            env.pop("GOMP_SPINCOUNT", None)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1, env=env)
        self.hello = self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the PyTorch worker exited (see its stderr above)")
        return json.loads(line)

    def request(self, msg):
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        reply = self._read()
        if "error" in reply:
            raise RuntimeError(f"PyTorch worker: {reply['error']}")
        return reply

    def close(self):
        if self.proc.poll() is None:
            try:
                self.request({"cmd": "quit"})
            except (RuntimeError, OSError, ValueError):
                pass
            self.proc.wait(timeout=30)


class Remote:
    """A callable of the PyTorch worker, timed there (same timing code, its own clock)."""

    def __init__(self, worker, name):
        self.worker, self.name = worker, name

    def block(self, n, rewarm=False):
        r = self.worker.request({"cmd": "block", "name": self.name, "n": n, "rewarm": rewarm})
        return r["times"], r["loads"]


def start_torch_worker(device, threads):
    """A running ``TorchWorker``, or None (with the reason printed) without PyTorch."""
    try:
        w = TorchWorker(device, threads)
    except (OSError, RuntimeError, ValueError) as e:
        print(f"PyTorch comparison skipped: {e}")
        return None
    if not w.hello.get("ok"):
        print(f"PyTorch comparison skipped: {w.hello.get('error')}")
        w.close()
        return None
    return w


def _conv_fn(torch, tdev, path):
    d = np.load(path)
    tx, tw, tb = (torch.tensor(d[k], device=tdev, requires_grad=True) for k in ("x", "w", "b"))
    tg = torch.tensor(d["g"], device=tdev)

    def conv_fwd_bwd():
        y = torch.nn.functional.conv2d(tx, tw, tb, padding=1)
        y.backward(tg)
        tx.grad = tw.grad = tb.grad = None
    return conv_fwd_bwd


def torch_worker_main(device, threads):
    """The child's loop: one JSON request per line on stdin, one JSON reply per line."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed goes to stderr; stdout carries only the protocol

    def send(obj):
        proto.write(json.dumps(obj, default=float) + "\n")

    try:
        import torch
    except Exception as e:  # PyTorch is optional
        send({"ok": False, "error": f"PyTorch not importable ({type(e).__name__}: {e})"})
        return
    is_cuda = device.startswith("cuda")
    if is_cuda and not torch.cuda.is_available():
        send({"ok": False, "error": "PyTorch has no CUDA device"})
        return
    tdev = (device if ":" in device else "cuda:0") if is_cuda else "cpu"
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    sync = (lambda: torch.cuda.synchronize(tdev)) if is_cuda else (lambda: None)
    fns = {}
    send({"ok": True, "torch": torch.__version__, "threads": torch.get_num_threads()})
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            cmd = msg["cmd"]
            if cmd == "quit":
                send({})
                break
            if cmd == "unet":
                tw = TorchWorkload(torch, tdev, np.load(msg["npz"]), msg["coefs"],
                                   msg.get("model", "simple"))
                fns["train"], fns["sample"] = tw.train_step, tw.sample_step
                reply = {"weights_copied": tw.weights_copied, "max_abs_diff": tw.max_abs_diff}
            elif cmd == "conv":
                fns["conv"] = _conv_fn(torch, tdev, msg["npz"])
                reply = {}
            elif cmd == "block":
                t, lo = run_block(fns[msg["name"]], sync, msg["n"], msg["rewarm"])
                reply = {"times": t, "loads": lo}
            else:
                reply = {"error": f"unknown command {cmd!r}"}
        except Exception:
            reply = {"error": traceback.format_exc()}
        send(reply)
