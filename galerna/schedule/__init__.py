"""The scheduling core. Its hot loops are compiled (``*.pyx``, built by setup.py): say so
clearly when a source tree on the path was never built, before any module needs them."""
try:
    from galerna.schedule import gridsearch as _gridsearch, timeline as _timeline  # noqa: F401
except ModuleNotFoundError as e:  # pragma: no cover - depends on how the tree was installed
    raise ImportError("galerna's compiled core (galerna/schedule/*.pyx) is not built: run `make setup`, "
                      "or `pip install -e .`, or `python setup.py build_ext --inplace` in the source tree") from e
