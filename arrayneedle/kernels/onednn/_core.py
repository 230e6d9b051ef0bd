"""Engine, stream, memory over NumPy buffers, layouts with their reorders, primitives and the
cache of primitive descriptors.

Memory: a oneDNN memory object wraps a NumPy buffer (no copy); it is made on a primitive's
first call and re-pointed at the buffers of later calls (``execute``), so descriptors,
primitives and their memory objects are cached, never the buffers. A primitive chooses its
own layouts (``format_tag_any``, usually channel-blocked); ``Layout`` holds the plain (NCHW /
OIHW) and the chosen descriptor and the reorders between them, and a plain array goes in
without a copy when the primitive chose the plain layout. Buffers in a blocked layout are
fresh NumPy arrays for each call (never cached), so no two calls, e.g. two forwards awaiting
backward, share one. Scratchpads are the caller's too (``scratchpad_mode_user``), allocated per
call. Calls from several threads are serialised by a lock (one stream, shared memory objects).
"""
from __future__ import annotations

import ctypes
import threading
from collections import OrderedDict

import numpy as np

from . import _lib as L
from ._lib import DIMS, P, check

CACHE_CAPACITY = 512  # primitive-descriptor sets kept (least recently used dropped first)
ALIGN = 64


class Runtime:
    """The loaded library, one CPU engine and one stream."""

    def __init__(self, lib):
        self.lib = lib
        self.engine, self.stream, self.attr = P(), P(), P()
        check(lib.dnnl_engine_create(ctypes.byref(self.engine), L.CPU, 0), "engine_create")
        check(lib.dnnl_stream_create(ctypes.byref(self.stream), self.engine, 1),
              "stream_create")
        check(lib.dnnl_primitive_attr_create(ctypes.byref(self.attr)), "primitive_attr_create")
        check(lib.dnnl_primitive_attr_set_scratchpad_mode(self.attr, L.SCRATCHPAD_USER),
              "set_scratchpad_mode")
        self.cache = OrderedDict()
        self.lock = threading.Lock()
        # (primitive, argument ids) -> the exec-args array and its memory objects, made on the
        # first call and re-pointed at each call's buffers (``execute``)
        self.bound = {}
        self.exec_lock = threading.Lock()
        self.scratch = empty_aligned(1 << 16, np.uint8)  # the primitives' scratchpad

    def cached(self, key, build):
        """The entry ``build()`` made for ``key`` (built once, then reused)."""
        with self.lock:
            entry = self.cache.get(key)
            if entry is not None:
                self.cache.move_to_end(key)
                return entry
            entry = build(Entry(self))
            self.cache[key] = entry
            while len(self.cache) > CACHE_CAPACITY:
                self.cache.popitem(last=False)[1].close()
            return entry

    def clear_cache(self):
        with self.lock:
            while self.cache:
                self.cache.popitem()[1].close()


def _address(a):
    """The address of ``a``'s data as an int (ctypes passes it as a void*). A ctypes view of a
    writable contiguous buffer gives it in about a quarter of the time ``a.ctypes.data`` takes
    (which builds a helper object; a training step binds about 1200 buffers); read-only,
    strided or empty arrays take that slower way."""
    try:
        return ctypes.addressof(ctypes.c_byte.from_buffer(a))
    except (TypeError, ValueError, BufferError):
        return a.ctypes.data


def empty_aligned(nbytes, dtype=np.float32):
    """A new 1-D array of ``nbytes`` bytes whose data starts on a 64-byte boundary."""
    raw = np.empty(nbytes + ALIGN, dtype=np.uint8)
    off = (-_address(raw)) % ALIGN
    return raw[off:off + nbytes].view(dtype)


def dims(values):
    return DIMS(*(int(v) for v in values))


class Layout:
    """One argument of a primitive: its plain descriptor, the one the primitive chose, and the
    reorders between them (None where the two are the same)."""

    def __init__(self, entry, shape, plain_md, chosen_md):
        self.shape, self.plain, self.md = tuple(shape), plain_md, chosen_md
        self.same = bool(entry.lib.dnnl_memory_desc_equal(plain_md, chosen_md))
        self.nbytes = entry.lib.dnnl_memory_desc_get_size(chosen_md)
        self.to_chosen = None if self.same else entry.reorder(plain_md, chosen_md)
        self.to_plain = None if self.same else entry.reorder(chosen_md, plain_md)

    def into(self, rt, array):
        """``array`` (plain, C-contiguous) in the chosen layout: itself or a reordered copy."""
        if self.same:
            return array
        buf = empty_aligned(self.nbytes, array.dtype)
        execute(rt, self.to_chosen, [(L.ARG_FROM, self.plain, array), (L.ARG_TO, self.md, buf)])
        return buf

    def new(self, dtype=np.float32):
        """A new buffer for an output in the chosen layout."""
        if self.same:
            return np.empty(self.shape, dtype=dtype)
        return empty_aligned(self.nbytes, dtype)

    def out(self, rt, buf):
        """The output ``buf`` (chosen layout) as a new plain array."""
        if self.same:
            return buf
        out = np.empty(self.shape, dtype=buf.dtype)
        execute(rt, self.to_plain, [(L.ARG_FROM, self.md, buf), (L.ARG_TO, self.plain, out)])
        return out


class Entry:
    """Descriptors and primitives made for one cache key; ``close`` destroys them all."""

    def __init__(self, rt):
        self.rt, self.lib = rt, rt.lib
        self._mds, self._pds, self._prims, self._attrs = [], [], [], []

    def attr(self):
        """A new primitive attribute with the caller's scratchpad (post-ops go on it)."""
        attr = P()
        check(self.lib.dnnl_primitive_attr_create(ctypes.byref(attr)), "primitive_attr_create")
        self._attrs.append(attr)
        check(self.lib.dnnl_primitive_attr_set_scratchpad_mode(attr, L.SCRATCHPAD_USER),
              "set_scratchpad_mode")
        return attr

    def md(self, shape, tag, dtype=L.F32):
        md = P()
        check(self.lib.dnnl_memory_desc_create_with_tag(ctypes.byref(md), len(shape),
                                                        dims(shape), dtype, tag),
              f"memory_desc_create {tuple(shape)}")
        self._mds.append(md)
        return md

    def md_strided(self, shape, strides, dtype=L.F32):
        """A descriptor of ``shape`` with these element ``strides`` (a view read in place)."""
        md = P()
        check(self.lib.dnnl_memory_desc_create_with_strides(ctypes.byref(md), len(shape),
                                                            dims(shape), dtype, dims(strides)),
              f"memory_desc_create_with_strides {tuple(shape)} {tuple(strides)}")
        self._mds.append(md)
        return md

    def pd(self, what, creator, *args):
        pd = P()
        check(creator(ctypes.byref(pd), self.rt.engine, *args), what)
        self._pds.append(pd)
        return pd

    def query(self, pd, what, index=0):
        """A memory descriptor of ``pd`` (owned by ``pd``), or None where it has none."""
        md = self.lib.dnnl_primitive_desc_query_md(pd, what, index)
        if not md or self.lib.dnnl_memory_desc_get_size(md) == 0:
            return None
        return P(md)

    def primitive(self, pd):
        prim = P()
        check(self.lib.dnnl_primitive_create(ctypes.byref(prim), pd), "primitive_create")
        self._prims.append(prim)
        return prim

    def reorder(self, src_md, dst_md):
        pd = self.pd("reorder", lambda out, eng, *a: self.lib.dnnl_reorder_primitive_desc_create(
            out, src_md, eng, dst_md, eng, None))
        return self.primitive(pd)

    def layout(self, shape, plain_tag, pd, query):
        return Layout(self, shape, self.md(shape, plain_tag), self.query(pd, query))

    def scratchpad(self, pd):
        md = self.query(pd, L.QUERY_SCRATCHPAD)
        return (md, self.lib.dnnl_memory_desc_get_size(md)) if md is not None else None

    def impl(self, pd):
        """The implementation oneDNN chose, e.g. ``brgconv:avx512_core``."""
        s = ctypes.c_char_p()
        check(self.lib.dnnl_primitive_desc_query(pd, L.QUERY_IMPL_INFO, 0, ctypes.byref(s)),
              "query impl_info_str")
        return s.value.decode()

    def close(self):
        prims = {p.value for p in self._prims}
        with self.rt.exec_lock:  # the memory objects bound to these primitives go too
            for key in [k for k in self.rt.bound if k[0] in prims]:
                for m in self.rt.bound.pop(key)[1]:
                    self.lib.dnnl_memory_destroy(m)
        for prim in self._prims:
            self.lib.dnnl_primitive_destroy(prim)
        for pd in self._pds:
            self.lib.dnnl_primitive_desc_destroy(pd)
        for md in self._mds:
            self.lib.dnnl_memory_desc_destroy(md)
        for attr in self._attrs:
            self.lib.dnnl_primitive_attr_destroy(attr)
        self._mds, self._pds, self._prims, self._attrs = [], [], [], []


def execute(rt, prim, args, scratchpad=None):
    """Run ``prim`` on ``args``: ``(arg id, memory descriptor, NumPy buffer)``. The memory
    objects are made on a primitive's first call and only re-pointed at the buffers afterwards
    (``dnnl_memory_set_data_handle``: one call per argument instead of a create and a destroy,
    about half of a small primitive's overhead), and only where a buffer's address changed
    (the shared scratchpad, buffers the allocator hands back at the same address): in oneDNN
    v3.2 ``set_data_handle`` only stores the pointer (no zero padding), so skipping an unchanged
    one changes nothing but the cost of the ctypes call. Calls are serialised (one stream, and
    the bound memory objects and the scratchpad are shared)."""
    lib = rt.lib
    key = (prim.value,) + tuple(a for a, _, _ in args)
    with rt.exec_lock:
        if scratchpad is not None:  # one buffer for every call: they run one at a time
            md, nbytes = scratchpad
            if rt.scratch.nbytes < nbytes:
                rt.scratch = empty_aligned(max(nbytes, 2 * rt.scratch.nbytes), np.uint8)
            args = list(args) + [(L.ARG_SCRATCHPAD, md, rt.scratch)]
            key += (L.ARG_SCRATCHPAD,)
        bound = rt.bound.get(key)
        if bound is None:
            mems, addrs = [], []
            try:
                for _, md, buf in args:
                    m = P()
                    addrs.append(_address(buf))
                    check(lib.dnnl_memory_create(ctypes.byref(m), md, rt.engine, addrs[-1]),
                          "memory_create")
                    mems.append(m)
            except L.DnnlError:
                for m in mems:
                    lib.dnnl_memory_destroy(m)
                raise
            exec_args = (L.ExecArg * len(args))()
            for i, ((arg, _, _), m) in enumerate(zip(args, mems)):
                exec_args[i].arg, exec_args[i].memory = arg, m
            rt.bound[key] = bound = (exec_args, mems, addrs)
        else:
            _, mems, addrs = bound
            for i, (_, _, buf) in enumerate(args):
                addr = _address(buf)
                if addr != addrs[i]:
                    check(lib.dnnl_memory_set_data_handle(mems[i], addr),
                          "memory_set_data_handle")
                    addrs[i] = addr
        check(lib.dnnl_primitive_execute(prim, rt.stream, len(args), bound[0]),
              "primitive_execute")
        check(lib.dnnl_stream_wait(rt.stream), "stream_wait")
