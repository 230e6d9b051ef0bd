"""Performance-critical array kernels, dispatched by the array's library.

Only this package (and ``backend.py``) may know whether NumPy or CuPy is underneath.
"""
from .index import index_add

__all__ = ["index_add"]
