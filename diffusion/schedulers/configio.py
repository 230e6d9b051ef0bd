"""Schedulers to and from diffusers' ``scheduler_config.json``: ``from_config``,
``from_pretrained`` and ``save_pretrained`` with diffusers' keys, shared by every scheduler
through the ``ConfigIO`` mixin of ``Scheduler``.

A config key is, in this order: bookkeeping (``_class_name``, ``_diffusers_version``: skipped);
an argument of the class (used); a diffusers option this package does not implement, accepted
only at the value that leaves the scheduler unchanged (``thresholding: false``, ...; another
value is an error naming it); an argument of another scheduler (dropped, as diffusers drops it
when one scheduler's config builds another: ``DDIMScheduler.from_config(ddpm.config)``); or
unknown (an error naming it).
"""
from __future__ import annotations

import inspect
import math

from ..pretrained import (
    SCHEDULER_CONFIG_NAME,
    FolderError,
    component_folder,
    read_config,
    write_config,
)

__all__ = ["ConfigIO", "INERT", "OWN_KEYS", "scheduler_from_pretrained"]

# diffusers options not implemented here -> the test a value passes when it changes nothing
INERT = {
    "thresholding": lambda v: v is False,
    "dynamic_thresholding_ratio": lambda v: True,   # used only with thresholding
    "sample_max_value": lambda v: True,             # used only with thresholding
    "rescale_betas_zero_snr": lambda v: v is False,
    "use_exponential_sigmas": lambda v: v is False,
    "use_beta_sigmas": lambda v: v is False,
    "use_lu_lambdas": lambda v: v is False,
    "use_flow_sigmas": lambda v: v is False,
    "flow_shift": lambda v: True,                   # used only with flow sigmas
    "use_dynamic_shifting": lambda v: v is False,
    "time_shift_type": lambda v: True,              # used only with dynamic shifting
    "lambda_min_clipped": lambda v: v is None or v == -math.inf,
    "timestep_type": lambda v: v == "discrete",
    "interpolation_type": lambda v: v == "linear",
    "sigma_min": lambda v: v is None,
    "sigma_max": lambda v: v is None,
    "skip_prk_steps": lambda v: True,               # PNDM's, meaningless to the others
    "set_alpha_to_one": lambda v: True,             # DDIM / PNDM's final alpha
}
# this package's options that diffusers' schedulers lack -> their default (diffusers' behaviour)
OWN_KEYS = {"step_to_visited": False}
# a DPM-Solver config's variance_type says whether the model predicts its variance
_LEARNED_VARIANCE = ("learned", "learned_range")


def _arguments(cls):
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


def _all_scheduler_classes():
    from . import SCHEDULERS
    return {cls.__name__: cls for cls, _ in SCHEDULERS.values()}


class ConfigIO:
    """``from_config`` / ``from_pretrained`` / ``save_pretrained`` for a scheduler class."""

    config_name = SCHEDULER_CONFIG_NAME

    @classmethod
    def from_config(cls, config=None, **kwargs):
        """A scheduler of this class from a diffusers config dict (or another scheduler's
        ``config``), ``kwargs`` overriding; see the module docstring for the key rules."""
        config = dict(getattr(config, "config", config) or {})
        config.update(kwargs)
        own = set(_arguments(cls))
        others = set()
        for other in _all_scheduler_classes().values():
            others.update(_arguments(other))
        used = {}
        for key, value in config.items():
            if key.startswith("_"):
                continue
            if key == "variance_type" and value in _LEARNED_VARIANCE:
                raise FolderError(f"{cls.__name__} config: variance_type={value!r} (a model "
                                  f"that predicts its variance) is not supported")
            if key in own:
                used[key] = value
            elif key in INERT:
                if not INERT[key](value):
                    raise FolderError(f"{cls.__name__} config: {key}={value!r} is not "
                                      f"supported here (only its default, which changes "
                                      f"nothing)")
            elif key not in others:
                raise FolderError(f"{cls.__name__} config: unknown key {key!r} (not a key of "
                                  f"diffusers' schedulers)")
        try:
            return cls(**used)
        except (TypeError, ValueError) as e:
            raise FolderError(f"{cls.__name__} config: {e}") from None

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, subfolder=None):
        """This scheduler class from the ``scheduler_config.json`` of a folder (or of a
        pipeline folder's ``scheduler/``)."""
        folder = component_folder(pretrained_model_name_or_path, SCHEDULER_CONFIG_NAME,
                                  "scheduler", subfolder)
        config = read_config(folder, SCHEDULER_CONFIG_NAME)
        try:
            return cls.from_config(config)
        except FolderError as e:
            raise FolderError(f"{folder}/{SCHEDULER_CONFIG_NAME}: {e}") from None

    def save_pretrained(self, save_directory):
        """Write ``scheduler_config.json`` (diffusers' keys) to ``save_directory``. This
        package's own options (``OWN_KEYS``) are written only where they differ from their
        default, so a scheduler that behaves as diffusers' writes only diffusers' keys."""
        config = {k: v for k, v in self.config.items()
                  if k not in OWN_KEYS or v != OWN_KEYS[k]}
        write_config(save_directory, SCHEDULER_CONFIG_NAME, type(self).__name__, config)
        return save_directory


def scheduler_from_pretrained(path, subfolder=None):
    """The scheduler a folder's ``scheduler_config.json`` names in ``_class_name`` (one of
    this package's schedulers)."""
    folder = component_folder(path, SCHEDULER_CONFIG_NAME, "scheduler", subfolder)
    config = read_config(folder, SCHEDULER_CONFIG_NAME)
    name = config.get("_class_name")
    classes = _all_scheduler_classes()
    if name not in classes:
        raise FolderError(f"{folder}/{SCHEDULER_CONFIG_NAME}: _class_name {name!r} is not one "
                          f"of the supported schedulers ({', '.join(sorted(classes))})")
    return classes[name].from_pretrained(folder)
