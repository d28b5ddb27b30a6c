"""numba's on-disk cache and the modules' layout.

numba keys a cached kernel (``cache=True``) on its own source file only (modification time and
size), while a kernel that calls a compiled function or intrinsic defined in *another* module
inlines that callee into its own machine code. Editing the callee's module then leaves the
caller's cached kernel stale: the old code runs until the cache is purged by hand. The layout
rule that removes the trap: a cached kernel calls only compiled code of its own module (so any
edit of a kernel's dependencies changes its own file's stamp). These tests hold every numba
module of ``hltk`` to it, and check that the checker does catch a cross-module call.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import types
from pathlib import Path

import pytest

numba = pytest.importorskip("numba")

from numba.core.caching import NullCache  # noqa: E402
from numba.core.dispatcher import Dispatcher  # noqa: E402
from numba.core.extending import _Intrinsic  # noqa: E402

#: the packages that hold numba kernels
PACKAGES = ("hltk.metrics", "hltk.simulate.msbg_dsp", "hltk.dsp")


def _compiled_origin(value: object) -> str | None:
    """The module that defines ``value`` if it is numba-compiled code (a jitted function or an
    intrinsic), else None."""
    if isinstance(value, Dispatcher):
        return str(value.py_func.__module__)
    if isinstance(value, _Intrinsic):
        return str(value._defn.__module__)
    return None


def _code_names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _code_names(constant)
    return names


def foreign_compiled_calls(module: types.ModuleType) -> list[str]:
    """``kernel -> callee (module)`` for every cached kernel of ``module`` that refers to
    compiled code defined in another module (directly, or as ``other_module.name``)."""
    found = []
    for name, kernel in sorted(vars(module).items()):
        if not isinstance(kernel, Dispatcher) or kernel.py_func.__module__ != module.__name__:
            continue
        if isinstance(kernel._cache, NullCache):  # not cached: compiled afresh in each process
            continue
        names = _code_names(kernel.py_func.__code__)
        scope = kernel.py_func.__globals__
        for ref in sorted(names):
            value = scope.get(ref)
            candidates = [(ref, value)]
            if isinstance(value, types.ModuleType):
                candidates = [(f"{ref}.{attr}", getattr(value, attr, None)) for attr in names]
            for label, target in candidates:
                origin = _compiled_origin(target)
                if origin is not None and origin != module.__name__:
                    found.append(f"{name} -> {label} ({origin})")
    return found


def _numba_modules() -> list[types.ModuleType]:
    modules = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, package_name + "."):
            module = importlib.import_module(info.name)
            if any(isinstance(v, Dispatcher) for v in vars(module).values()):
                modules.append(module)
    return modules


def test_cached_kernels_call_only_their_own_module() -> None:
    modules = _numba_modules()
    names = {m.__name__ for m in modules}
    # the kernels this rule matters for are found (a walk that found nothing would pass)
    assert {"hltk.metrics.ear.compiled", "hltk.metrics.ear.legacy_rng",
            "hltk.simulate.msbg_dsp.compiled"} <= names
    offences = {m.__name__: foreign_compiled_calls(m) for m in modules}
    assert not any(offences.values()), offences


def test_checker_finds_a_cross_module_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    """A cached kernel calling a jitted function and an intrinsic of another module, directly
    and through the module, is reported; a call within the module is not."""
    (tmp_path / "numba_lib_a.py").write_text(
        "import numba as nb\n"
        "from numba.extending import intrinsic\n"
        "@nb.njit(cache=True)\n"
        "def helper(x):\n"
        "    return x + 1.0\n"
        "@intrinsic\n"
        "def lanes(typingctx, x):\n"
        "    raise NotImplementedError\n")
    (tmp_path / "numba_lib_b.py").write_text(
        "import numba as nb\n"
        "import numba_lib_a\n"
        "from numba_lib_a import helper, lanes\n"
        "@nb.njit(cache=True)\n"
        "def local(x):\n"
        "    return x * 2.0\n"
        "@nb.njit(cache=True)\n"
        "def kernel(x):\n"
        "    return local(helper(x))\n"
        "@nb.njit(cache=True)\n"
        "def through_module(x):\n"
        "    return numba_lib_a.helper(x) + lanes(x)\n"
        "@nb.njit\n"
        "def uncached(x):\n"
        "    return helper(x)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        module = importlib.import_module("numba_lib_b")
        found = foreign_compiled_calls(module)
        assert {line.split(" -> ")[0] for line in found} == {"kernel", "through_module"}
        assert "kernel -> helper (numba_lib_a)" in found
        assert "through_module -> lanes (numba_lib_a)" in found
        assert "through_module -> numba_lib_a.helper (numba_lib_a)" in found
    finally:
        for name in ("numba_lib_a", "numba_lib_b"):
            sys.modules.pop(name, None)
