"""Image datasets for diffusion training: all give CHW float32 images in [-1, 1].

- :class:`SyntheticLandscapes` - built-in procedural landscapes (nothing to download).
- :class:`ImageFolder` - every JPEG/PNG/BMP/WebP under a folder (e.g. a photo collection).
- :class:`MNISTDataset`, :class:`CIFAR10Dataset` - the classic sets from local files, read by
  :func:`load_mnist` (idx files, gzipped or not) and :func:`load_cifar10` (binary or python
  batches).

Every dataset keeps its images decoded in memory as one uint8 array ``data`` of shape
``(N, C, H, W)`` and offers ``get_batch(indices)`` (one fancy index + one conversion), which
``arrayneedle.data.DataLoader`` uses instead of per-item loading.
"""
from .base import ImageArrayDataset, resize_images
from .cifar import CIFAR10_CLASSES, CIFAR10Dataset, load_cifar10
from .folder import IMAGE_EXTENSIONS, ImageFolder
from .landscapes import SyntheticLandscapes
from .mnist import MNISTDataset, load_mnist, read_idx

__all__ = [
    "ImageArrayDataset", "SyntheticLandscapes", "ImageFolder", "MNISTDataset", "CIFAR10Dataset",
    "load_mnist", "read_idx", "load_cifar10", "resize_images", "IMAGE_EXTENSIONS",
    "CIFAR10_CLASSES",
]
