"""TensorBoard's event files written by hand: TFRecord framing and the few protobuf messages a
SummaryWriter needs (Event, Summary, Summary.Value, Summary.Image, HistogramProto, TensorProto,
SummaryMetadata), with no TensorFlow and no protobuf package.

A record is ``uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)``
(little endian), where the mask is TFRecord's ``((crc >> 15) | (crc << 17)) + 0xa282ead8``. The
field numbers are those of tensorboard/compat/proto/{event,summary,tensor,histogram}.proto.
"""
from __future__ import annotations

import os
import socket
import struct
import threading
import time

__all__ = ["crc32c", "masked_crc32c", "tfrecord", "event", "summary_value", "image_proto",
           "histogram_proto", "text_tensor", "EventFileWriter"]


def _crc_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_TABLE = _crc_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as TFRecord uses."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC, the data, the data's masked CRC."""
    header = struct.pack("<Q", len(data))
    return (header + struct.pack("<I", masked_crc32c(header)) + data
            + struct.pack("<I", masked_crc32c(data)))


# ---- protobuf wire format: varints and the four field kinds used here ----
def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # negative int64/int32 values are ten-byte varints
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field, wire):
    return _varint((field << 3) | wire)


def _int(field, n):
    return _key(field, 0) + _varint(int(n))


def _double(field, x):
    return _key(field, 1) + struct.pack("<d", float(x))


def _float(field, x):
    return _key(field, 5) + struct.pack("<f", float(x))


def _bytes(field, b):
    if isinstance(b, str):
        b = b.encode("utf-8")
    return _key(field, 2) + _varint(len(b)) + b


def _packed_doubles(field, xs):
    return _bytes(field, struct.pack(f"<{len(xs)}d", *[float(x) for x in xs]))


# ---- messages ----
def event(wall_time, step=None, summary=None, file_version=None) -> bytes:
    """An Event: wall_time = 1 (double), step = 2 (int64), file_version = 3, summary = 5."""
    out = _double(1, wall_time)
    if step is not None:
        out += _int(2, step)
    if file_version is not None:
        out += _bytes(3, file_version)
    if summary is not None:
        out += _bytes(5, summary)
    return out


def summary_value(tag, *, simple_value=None, image=None, histo=None, tensor=None,
                  plugin_name=None) -> bytes:
    """A Summary holding one Summary.Value (tag = 1, simple_value = 2, image = 4, histo = 5,
    tensor = 8, metadata = 9 with plugin_data = 1 {plugin_name = 1})."""
    v = _bytes(1, tag)
    if simple_value is not None:
        v += _float(2, simple_value)
    if image is not None:
        v += _bytes(4, image)
    if histo is not None:
        v += _bytes(5, histo)
    if tensor is not None:
        v += _bytes(8, tensor)
    if plugin_name is not None:
        v += _bytes(9, _bytes(1, _bytes(1, plugin_name)))
    return _bytes(1, v)  # Summary.value = 1 (repeated)


def image_proto(height, width, colorspace, png: bytes) -> bytes:
    """Summary.Image: height = 1, width = 2, colorspace = 3, encoded_image_string = 4."""
    return _int(1, height) + _int(2, width) + _int(3, colorspace) + _bytes(4, png)


def histogram_proto(vmin, vmax, num, total, sum_squares, limits, counts) -> bytes:
    """HistogramProto: min = 1, max = 2, num = 3, sum = 4, sum_squares = 5, bucket_limit = 6
    and bucket = 7 (packed doubles)."""
    return (_double(1, vmin) + _double(2, vmax) + _double(3, num) + _double(4, total)
            + _double(5, sum_squares) + _packed_doubles(6, limits)
            + _packed_doubles(7, counts))


def text_tensor(text: str) -> bytes:
    """TensorProto of one string: dtype = 1 (DT_STRING = 7), tensor_shape = 2 {dim = 2
    {size = 1}}, string_val = 8."""
    shape = _bytes(2, _int(1, 1))
    return _int(1, 7) + _bytes(2, shape) + _bytes(8, text)


class EventFileWriter:
    """Appends Events to ``log_dir/events.out.tfevents.<time>.<host>.<pid>.<n><suffix>``; the
    first record is the ``brain.Event:2`` file-version Event TensorBoard expects."""

    _count = 0
    _lock = threading.Lock()

    def __init__(self, log_dir, filename_suffix=""):
        os.makedirs(log_dir, exist_ok=True)
        with EventFileWriter._lock:
            EventFileWriter._count += 1
            n = EventFileWriter._count
        now = time.time()
        name = (f"events.out.tfevents.{int(now):010d}.{socket.gethostname()}.{os.getpid()}."
                f"{n}{filename_suffix}")
        self.log_dir = str(log_dir)
        self.path = os.path.join(self.log_dir, name)
        self._file = open(self.path, "ab")
        self.write(event(now, file_version="brain.Event:2"))
        self.flush()

    def write(self, event_bytes: bytes):
        if self._file is None:
            raise ValueError(f"write to a closed event file {self.path}")
        self._file.write(tfrecord(event_bytes))

    def flush(self):
        if self._file is not None:
            self._file.flush()

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None
