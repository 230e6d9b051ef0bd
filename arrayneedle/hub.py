"""``arrayneedle.hub``: PyTorch Hub's downloads of pickled checkpoints are not offered (loading
never unpickles). The names exist so that programs which import them, and call them only for
``pretrained=True``, run; a call says what to do instead."""
__all__ = ["load_state_dict_from_url", "download_url_to_file", "load", "list"]


def _declined(name):
    def fn(*args, **kwargs):
        raise RuntimeError(f"hub.{name} is not offered by arrayneedle: it downloads pickled "
                           f"PyTorch checkpoints, and arrayneedle never unpickles. Convert the "
                           f"weights to .safetensors and use arrayneedle.load_file")
    fn.__name__ = name
    fn.__arrayneedle_declined__ = "pickled checkpoints"
    return fn


load_state_dict_from_url = _declined("load_state_dict_from_url")
download_url_to_file = _declined("download_url_to_file")
load = _declined("load")
list = _declined("list")
