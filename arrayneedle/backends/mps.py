"""``backends.mps``: Apple's Metal backend, which arrayneedle does not drive."""


def is_available() -> bool:
    return False


def is_built() -> bool:
    return False
