"""Lazy exports (PEP 562): a package names its public objects, and each module is imported on first use.

This keeps light the imports that need none of the heavy dependencies: the world
(``labnet.environment``) loads without Mesa, torch or numba, and validating a scenario
loads neither torch nor Mesa.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose public names map to defining modules.

    Args:
        package: the package's ``__name__``.
        exports: public name -> absolute module name that defines it.
    """
    names = sorted(exports)

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__
