"""Every dtype rule is defined once, in arrayneedle/dtypes.py."""
import pathlib

import pytest

import arrayneedle as an

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "arrayneedle").rglob("*.py")) + sorted((ROOT / "diffusion").rglob("*.py"))


def test_dtype_rules_are_spelled_in_dtypes_py_alone():
    """The floating dtypes, the default float dtype and what counts as an array are defined
    once (arrayneedle/dtypes.py); every other module reads them from there."""
    for f in SOURCES:
        if f.name == "dtypes.py":
            continue
        src = f.read_text()
        for spelled in ('"float16", "float32", "float64"', "DEFAULT_FLOAT = ", "def is_array(",
                        "def _is_array(", "def is_float_dtype("):
            assert spelled not in src, f"{f} spells {spelled!r}"
    from arrayneedle import dtypes
    assert dtypes.FLOAT_DTYPES == ("float16", "float32", "float64")
    assert an.tensor(1.5).dtype == dtypes.DEFAULT_FLOAT == an.get_default_dtype()
    assert an.randn(2).dtype == dtypes.DEFAULT_FLOAT
    assert dtypes.is_array(an.randn(2).array) and not dtypes.is_array(1.5)
    assert dtypes.is_float_dtype(an.float16) and not dtypes.is_float_dtype("int64")
    with pytest.raises(RuntimeError, match="floating point"):
        an.zeros(2, dtype=an.int64).requires_grad_()
