"""The command lines, installed as console scripts by ``pip install`` (``[project.scripts]`` in
pyproject.toml): ``arrayneedle-train`` (``train``), ``arrayneedle-sample`` (``sample``),
``arrayneedle-export`` (``export``) and ``arrayneedle-quality`` (``quality``). Each module has
``build_parser()`` and ``main(argv=None) -> exit code``; ``python scripts/NAME.py`` runs the same
``main`` from a checkout."""
