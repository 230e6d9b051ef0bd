"""Old names live in one module (arrayneedle/compat.py), each with the date it goes away."""
import pathlib

import pytest

import arrayneedle as an

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _old_api():
    from arrayneedle import compat
    compat.deprecate("old_thing", "2027-06-30", "new_thing")


def test_deprecate_warns_with_the_removal_date():
    with pytest.warns(FutureWarning) as rec:
        _old_api()
    msg = str(rec[0].message)
    assert msg == "old_thing is deprecated and will be removed on 2027-06-30; use new_thing instead"
    assert rec[0].filename == __file__  # the line that called the deprecated function
    from diffusion.unet import SimpleUnet
    with pytest.warns(FutureWarning) as rec:
        SimpleUnet(channels=(4, 8), time_emb_dim=8)
    assert rec[0].filename == __file__
    with pytest.warns(FutureWarning) as rec:
        an.nn.Conv  # noqa: B018
    assert rec[0].filename == __file__


@pytest.mark.parametrize("module,old,new", [
    ("arrayneedle.nn", "Conv", "Conv2d"), ("arrayneedle.nn", "L2Loss", "MSELoss"),
    ("arrayneedle.nn.conv", "ConvTranspose", "ConvTranspose2d"),
    ("arrayneedle.nn.loss", "SoftmaxLoss", "CrossEntropyLoss"),
    ("arrayneedle.nn.init", "xavier_normal", "xavier_normal_"),
    ("arrayneedle.nn.init", "orthogonal", "orthogonal_")])
def test_old_names_warn_and_give_the_current_object(module, old, new):
    import importlib
    from arrayneedle import compat
    mod = importlib.import_module(module)
    assert old not in vars(mod) and old not in getattr(mod, "__all__", ())
    with pytest.warns(FutureWarning, match=f"{module}.{old} is deprecated and will be removed "
                                           f"on {compat.REMOVAL}; use {module}.{new} instead"):
        assert getattr(mod, old) is getattr(mod, new)
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchName'"):
        mod.NoSuchName  # noqa: B018


def test_renamed_argument_takes_the_old_keyword_with_a_warning():
    from arrayneedle.compat import renamed_argument
    assert renamed_argument("f", "old", "new", None, 3) == 3
    with pytest.warns(FutureWarning, match=r"f\(old=...\) is deprecated .* use f\(new=...\)"):
        assert renamed_argument("f", "old", "new", 4, None, stacklevel=1) == 4
    with pytest.raises(TypeError, match="give new or old"):
        renamed_argument("f", "old", "new", 4, 5)


def test_every_alias_is_declared_in_compat_alone():
    """No module binds an old name itself: they are all in compat.ALIASES."""
    from arrayneedle import compat
    for module, table in compat.ALIASES.items():
        src = (ROOT / (module.replace(".", "/") + ".py")).read_text() if (
            ROOT / (module.replace(".", "/") + ".py")).exists() else (
            ROOT / module.replace(".", "/") / "__init__.py").read_text()
        for old in table:
            assert f"\n{old} = " not in src and f", {old}," not in src, (module, old)
