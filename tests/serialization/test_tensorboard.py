"""utils.tensorboard.SummaryWriter: event files read back by TensorBoard's own reader, with the
same values as torch.utils.tensorboard writes for the same calls."""
import numpy as np
import pytest
import torch

import arrayneedle as an
from arrayneedle.utils.tensorboard import SummaryWriter
from arrayneedle.utils.tensorboard.events import crc32c, masked_crc32c

# TensorBoard's own reader (the test extra installs tensorboard)
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: I001


def _read(folder):
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0,
                                                       "histograms": 0, "tensors": 0})
    acc.Reload()
    return acc


def _log(writer, lib):
    rng = np.random.default_rng(0)
    for step in range(5):
        writer.add_scalar("loss/train", lib.tensor(1.0 / (step + 1)), step)
        writer.add_scalar("lr", 0.1 * step, global_step=step)
    writer.add_scalars("acc", {"train": 0.5, "val": lib.tensor(0.25)}, 3)
    hist = rng.standard_normal(1000)
    writer.add_histogram("weights", lib.tensor(hist), 2)
    writer.add_histogram("auto_bins", hist, 2, bins="auto")
    img = rng.random((3, 8, 6)).astype(np.float32)
    writer.add_image("sample", lib.tensor(img), 1)
    writer.add_image("hwc", (img.transpose(1, 2, 0) * 255).astype(np.uint8), 1,
                     dataformats="HWC")
    writer.add_images("batch", lib.tensor(rng.random((10, 1, 4, 4)).astype(np.float32)), 1)
    writer.add_text("note", "hello **tensorboard**", 4)
    writer.flush()


def test_crc32c_known_values():
    assert crc32c(b"") == 0
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert masked_crc32c(b"") == 0xA282EAD8


def test_reader_sees_what_torch_writes(tmp_path):
    with SummaryWriter(tmp_path / "ours") as w:
        _log(w, an)
        assert w.get_logdir() == str(tmp_path / "ours")
    from torch.utils.tensorboard import SummaryWriter as TorchWriter
    tw = TorchWriter(str(tmp_path / "torch"))
    _log(tw, torch)
    tw.close()
    ours, theirs = _read(tmp_path / "ours"), _read(tmp_path / "torch")
    tags = ours.Tags()
    assert set(tags["scalars"]) == set(theirs.Tags()["scalars"]) == {"loss/train", "lr"}
    assert set(tags["images"]) == set(theirs.Tags()["images"])
    assert set(tags["histograms"]) == set(theirs.Tags()["histograms"])
    assert set(tags["tensors"]) == set(theirs.Tags()["tensors"]) == {"note/text_summary"}
    for tag in ("loss/train", "lr"):
        a, t = ours.Scalars(tag), theirs.Scalars(tag)
        assert [e.step for e in a] == [e.step for e in t] == list(range(5))
        np.testing.assert_allclose([e.value for e in a], [e.value for e in t], rtol=1e-7)
    for tag in tags["histograms"]:
        (a,), (t,) = ours.Histograms(tag), theirs.Histograms(tag)
        assert a.step == t.step == 2
        for f in ("min", "max", "num", "sum", "sum_squares", "bucket_limit", "bucket"):
            np.testing.assert_allclose(np.asarray(getattr(a.histogram_value, f)),
                                       np.asarray(getattr(t.histogram_value, f)), rtol=1e-12,
                                       err_msg=f"{tag}.{f}")
    for tag in tags["images"]:
        (a,), (t,) = ours.Images(tag), theirs.Images(tag)
        assert (a.width, a.height, a.step) == (t.width, t.height, t.step)
        from io import BytesIO

        from PIL import Image
        np.testing.assert_array_equal(np.asarray(Image.open(BytesIO(a.encoded_image_string))),
                                      np.asarray(Image.open(BytesIO(t.encoded_image_string))))
    (a,), (t,) = ours.Tensors("note/text_summary"), theirs.Tensors("note/text_summary")
    assert a.step == t.step == 4 and a.tensor_proto.string_val == t.tensor_proto.string_val
    # add_scalars: one folder per curve, as torch
    for sub in ("acc_train", "acc_val"):
        (a,), (t,) = (_read(tmp_path / d / sub).Scalars("acc") for d in ("ours", "torch"))
        assert (a.step, a.value) == (t.step, t.value)


def test_writer_flushes_and_reopens(tmp_path):
    w = SummaryWriter(str(tmp_path), max_queue=1000, flush_secs=1000)
    w.add_scalar("x", 1.0, 0)
    assert _read(tmp_path).Tags()["scalars"] == []  # still buffered
    w.flush()
    assert _read(tmp_path).Scalars("x")[0].value == 1.0
    w.close()
    w.add_scalar("x", 2.0, 1)  # a closed writer opens a new file, as torch's
    w.close()
    assert [e.value for e in _read(tmp_path).Scalars("x")] == [1.0, 2.0]


def test_default_logdir_and_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    w = SummaryWriter(comment="_exp")
    assert w.get_logdir().startswith("runs") and w.get_logdir().endswith("_exp")
    with pytest.raises(ValueError, match="one value"):
        w.add_scalar("bad", [1.0, 2.0])
    with pytest.raises(AttributeError, match="not offered"):
        w.add_graph(None)
    with pytest.raises(ValueError, match="dataformats"):
        w.add_image("bad", np.zeros((2, 2, 2, 2)), dataformats="CHW")
    w.close()
