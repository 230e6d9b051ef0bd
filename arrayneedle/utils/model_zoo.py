"""``utils.model_zoo``: PyTorch's older name for ``hub.load_state_dict_from_url`` (not offered:
see ``arrayneedle.hub``)."""
from ..hub import load_state_dict_from_url as load_url

__all__ = ["load_url"]
