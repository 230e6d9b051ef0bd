"""``SummaryWriter`` with the methods and file layout of ``torch.utils.tensorboard``: event files
that TensorBoard (and its ``EventAccumulator``) reads, written by ``events.py`` (no TensorFlow).

Offered: ``add_scalar``, ``add_scalars`` (one sub-folder per curve, as PyTorch), ``add_image``,
``add_images``, ``add_histogram`` (PyTorch's default "tensorflow" bins), ``add_text``,
``flush``, ``close``, ``get_logdir`` and ``with SummaryWriter() as w``. The other methods of
PyTorch's writer (graphs, embeddings, audio, video, figures, meshes, PR curves, hparams) raise an
AttributeError saying they are not offered.
"""
from __future__ import annotations

import io
import math
import os
import socket
import time
from datetime import datetime

import numpy as np

from ...tensor import Tensor
from .events import (EventFileWriter, event, histogram_proto, image_proto, summary_value,
                     text_tensor)

__all__ = ["SummaryWriter"]

_NOT_OFFERED = ("add_graph", "add_embedding", "add_audio", "add_video", "add_figure",
                "add_pr_curve", "add_pr_curve_raw", "add_hparams", "add_mesh",
                "add_custom_scalars", "add_image_with_boxes", "add_onnx_graph",
                "add_histogram_raw", "add_tensor")


def _np(x):
    if isinstance(x, Tensor):
        return x.detach().numpy()
    return np.asarray(x)


def _default_bins():
    """TensorBoard's bucket limits (PyTorch's ``bins="tensorflow"``): +-1e-12 * 1.1^k up to
    1e20, and 0."""
    v, buckets = 1e-12, []
    while v < 1e20:
        buckets.append(v)
        v *= 1.1
    return [-b for b in reversed(buckets)] + [0] + buckets


def _hwc(img, dataformats):
    """An image array as H x W x C (C = 3 for grey input), a batch tiled 8 to a row."""
    fmt = dataformats.upper()
    if len(set(fmt)) != len(fmt) or img.ndim != len(fmt):
        raise ValueError(f"add_image: dataformats {dataformats!r} does not fit an image of "
                         f"shape {img.shape}")
    if len(fmt) == 4:
        nchw = img.transpose([fmt.find(c) for c in "NCHW"])
        if nchw.shape[1] == 1:
            nchw = np.concatenate([nchw] * 3, 1)
        n, c, h, w = nchw.shape
        cols = min(n, 8)
        rows = math.ceil(n / cols)
        canvas = np.zeros((c, h * rows, w * cols), dtype=nchw.dtype)
        for i in range(n):  # a handful of images per call, not a hot path
            r, q = divmod(i, cols)
            canvas[:, r * h:(r + 1) * h, q * w:(q + 1) * w] = nchw[i]
        return canvas.transpose(1, 2, 0)
    if len(fmt) == 3:
        hwc = img.transpose([fmt.find(c) for c in "HWC"])
        return np.concatenate([hwc] * 3, 2) if hwc.shape[2] == 1 else hwc
    if len(fmt) == 2:
        hw = img.transpose([fmt.find(c) for c in "HW"])
        return np.stack([hw] * 3, 2)
    raise ValueError(f"add_image: dataformats must have 2 to 4 letters, got {dataformats!r}")


class SummaryWriter:
    """Writes scalars, images, histograms and text for TensorBoard into ``log_dir`` (default
    ``runs/<Mon>DD_HH-MM-SS_<host><comment>``). Events are flushed every ``max_queue`` events
    or ``flush_secs`` seconds (checked at each write), on ``flush()`` and on ``close()``."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10,
                 flush_secs=120, filename_suffix=""):
        if not log_dir:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = str(log_dir)
        self.purge_step, self.max_queue, self.flush_secs = purge_step, max_queue, flush_secs
        self.filename_suffix = filename_suffix
        self._writers = {}
        self._pending = 0
        self._last_flush = time.time()
        self._writer(self.log_dir)

    def __getattr__(self, name):
        if name in _NOT_OFFERED:
            raise AttributeError(f"SummaryWriter.{name} is not offered by arrayneedle (scalars, "
                                 f"images, histograms and text are)")
        raise AttributeError(f"'SummaryWriter' object has no attribute {name!r}")

    def get_logdir(self):
        return self.log_dir

    def _writer(self, folder):
        w = self._writers.get(folder)
        if w is None:
            w = self._writers[folder] = EventFileWriter(folder, self.filename_suffix)
            if self.purge_step is not None and folder == self.log_dir:
                # PyTorch's purge: an Event with session_log START tells TensorBoard to drop
                # the events at or after this step from earlier runs (SessionLog = 6, status 1)
                w.write(event(time.time(), self.purge_step) + b"\x32\x02\x08\x01")
        return w

    def _add(self, summary, global_step, walltime, folder=None):
        w = self._writer(folder or self.log_dir)
        step = None if global_step is None else int(_np(global_step))
        w.write(event(time.time() if walltime is None else walltime, step, summary))
        self._pending += 1
        if self._pending >= self.max_queue or time.time() - self._last_flush >= self.flush_secs:
            self.flush()

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        """One point of the curve ``tag`` (a number or a one-element Tensor)."""
        value = _np(scalar_value).squeeze()
        if value.ndim != 0:
            raise ValueError(f"add_scalar: {tag!r} needs one value, got shape {value.shape}")
        self._add(summary_value(tag, simple_value=float(value)), global_step, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Several curves on one chart: each ``tag`` goes to ``log_dir/<main_tag>_<tag>``
        under the tag ``main_tag``, as PyTorch."""
        walltime = time.time() if walltime is None else walltime
        for tag, value in tag_scalar_dict.items():
            folder = self.log_dir + "/" + main_tag.replace("/", "_") + "_" + tag
            value = float(_np(value).squeeze())
            self._add(summary_value(main_tag, simple_value=value), global_step, walltime,
                      folder)

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """An image (float in [0, 1] or uint8 in [0, 255]; CHW, HWC, HW or a batch NCHW),
        stored as PNG."""
        from PIL import Image
        img = _hwc(_np(img_tensor), dataformats)
        scale = 1 if img.dtype == np.uint8 else 255
        img = (img.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)
        h, w, c = img.shape
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG")
        self._add(summary_value(tag, image=image_proto(h, w, c, buf.getvalue())), global_step,
                  walltime)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        """A batch of images tiled into one grid (8 per row, as PyTorch)."""
        self.add_image(tag, img_tensor, global_step, walltime, dataformats)

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None,
                      max_bins=None):
        """The distribution of ``values`` in PyTorch's buckets: ``bins="tensorflow"`` (the
        default), a NumPy bin rule ("auto", "fd"...), a count or explicit edges."""
        v = _np(values).astype(np.float64).reshape(-1)
        if v.size == 0:
            raise ValueError("add_histogram: the input has no element")
        if isinstance(bins, str) and bins == "tensorflow":
            bins = _default_bins()
        counts, limits = np.histogram(v, bins=bins)
        if max_bins is not None and len(counts) > max_bins:
            sub = len(counts) // max_bins
            if len(counts) % sub:
                counts = np.pad(counts, (0, sub - len(counts) % sub))
            counts = counts.reshape(-1, sub).sum(axis=-1)
            limits = np.concatenate([limits[:-1:sub], limits[-1:]])
        # TensorBoard keeps right edges only: trim to the support, with one empty bin before
        cum = np.cumsum(counts > 0)
        start, end = np.searchsorted(cum, [0, cum[-1] - 1], side="right")
        start, end = int(start), int(end) + 1
        counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
        limits = limits[start:end + 1]
        histo = histogram_proto(v.min(), v.max(), v.size, v.sum(), v.dot(v), limits.tolist(),
                                counts.tolist())
        self._add(summary_value(tag, histo=histo), global_step, walltime)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        """Text (Markdown) under ``tag + "/text_summary"``, as PyTorch."""
        self._add(summary_value(tag + "/text_summary", tensor=text_tensor(text_string),
                                plugin_name="text"), global_step, walltime)

    def flush(self):
        for w in self._writers.values():
            w.flush()
        self._pending, self._last_flush = 0, time.time()

    def close(self):
        for w in self._writers.values():
            w.close()
        self._writers = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
