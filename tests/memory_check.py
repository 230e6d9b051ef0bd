"""Shared by the flat-memory tests: how much traced memory a training step leaves behind."""
import gc
import tracemalloc


def growth_over_steps(step, warmup=3, steps=20):
    """Bytes of traced (Python and NumPy) memory still held after ``steps`` calls of ``step``
    beyond what was held after ``warmup`` calls; the cyclic garbage collector is off
    throughout, so anything freed was freed by reference counting alone."""
    gc.disable()
    try:
        for _ in range(warmup):
            step()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(steps):
            step()
        grown = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
    finally:
        gc.enable()
    return grown
