"""Compile ``cpu_kernels.c`` and ``matrix_kernels.c`` with the system C compiler into one
library, once per machine, and load it.

The library is built from the package's own sources with ``$CC`` (default ``gcc``), for this
CPU (``-march=native``), with glibc's vector math when available, into
``$SWINT_CACHE_DIR`` (default ``~/.cache/swint``) under a name that hashes the source, the
flags, the compiler and the CPU; later processes load it without compiling. Nothing is
downloaded. When no attempt compiles, :func:`load_library` returns None with the reason.

OpenMP comes from the Intel runtime (``libiomp5``) that Paddle's MKL already uses when Paddle
ships one, so that the kernels and the GEMMs share one thread pool: with GCC's own runtime
the two pools' idle threads spin against each other on a 2-core machine and every GEMM
slows down (SwinT step 540 ms instead of 380 ms).
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ...runtime import cpu_info

SOURCES = [Path(__file__).with_name(name) for name in ("cpu_kernels.c", "matrix_kernels.c")]
_COMPILE_FLAGS = ["-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fPIC"]
# glibc's vector expf (libmvec) lets GCC vectorize the GELU and softmax.
_VECTOR_MATH = (["-DSWINT_VECTOR_MATH"], ["-lmvec"])


def cache_dir() -> Path:
    """Where compiled kernels are kept: ``$SWINT_CACHE_DIR`` or ``$XDG_CACHE_HOME/swint``."""
    if os.environ.get("SWINT_CACHE_DIR"):
        return Path(os.environ["SWINT_CACHE_DIR"])
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "swint"


def _cpu_signature() -> str:
    flags = cpu_info("flags") or cpu_info("Features")  # x86 / ARM
    return f"{platform.machine()} {platform.processor()} {flags}"


def _compiler_version(compiler: str) -> str:
    result = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=False)
    return result.stdout.splitlines()[0] if result.stdout else compiler


def _openmp_link_options() -> list[list[str]]:
    """Link options for the OpenMP runtime: Paddle's libiomp5 first, then GCC's libgomp."""
    options = []
    spec = importlib.util.find_spec("paddle")
    if spec is not None and spec.origin is not None:
        libs = Path(spec.origin).parent / "libs"
        if (libs / "libiomp5.so").exists():
            options.append([f"-L{libs}", "-liomp5", f"-Wl,-rpath,{libs}"])
    options.append(["-lgomp"])
    return options


def _attempts() -> list[tuple[list[str], list[str]]]:
    """(defines, link options) to try in order, fastest first."""
    attempts = []
    for openmp in _openmp_link_options():
        attempts.append((_VECTOR_MATH[0], [*openmp, *_VECTOR_MATH[1], "-lm"]))
        attempts.append(([], [*openmp, "-lm"]))
    return attempts


def _run(command: list[str]) -> str | None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return None
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    return (errors or result.stderr.splitlines() or ["failed"])[0].strip()


def _compile(
    compiler: str,
    target: Path,
    defines: list[str],
    link: list[str],
    sources: Sequence[Path] = SOURCES,
) -> str | None:
    """Build ``target`` from ``sources`` atomically; returns None on success, else the
    compiler's first error."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        library = Path(scratch) / target.name
        objects = [str(Path(scratch) / f"{source.stem}.o") for source in sources]
        # Compile and link separately so that -fopenmp does not pull in libgomp at link time.
        failure = None
        for source, obj in zip(sources, objects, strict=True):
            failure = failure or _run(
                [compiler, *_COMPILE_FLAGS, *defines, "-c", str(source), "-o", obj]
            )
        failure = failure or _run([compiler, "-shared", *objects, "-o", str(library), *link])
        if failure is None:
            os.replace(library, target)  # concurrent builders (data-parallel ranks) race safely
    return failure


def build_library(sources: Sequence[Path], target: Path) -> tuple[ctypes.CDLL | None, str]:
    """``sources`` compiled and linked into ``target`` as the package builds its own kernels
    (the same compiler, flags and attempts, fastest first; no cache), and loaded; or None and
    the first error. For comparing kernel sources side by side."""
    compiler, error = os.environ.get("CC", "gcc"), "no build attempted"
    for defines, link in _attempts():
        failure = _compile(compiler, target, defines, link, sources)
        if failure is None:
            return ctypes.CDLL(str(target)), str(target)
        error = f"{compiler} failed: {failure}"
    return None, error


def load_library() -> tuple[ctypes.CDLL | None, str]:
    """The compiled kernels (building them if needed) and where they came from, or None and why."""
    compiler = os.environ.get("CC", "gcc")
    if shutil.which(compiler) is None:
        return None, f"no C compiler ({compiler}) found"
    source = b"".join(path.read_bytes() for path in SOURCES)
    identity = f"{_compiler_version(compiler)}|{_cpu_signature()}|{_COMPILE_FLAGS}"
    error = "no build attempted"
    for defines, link in _attempts():
        digest = hashlib.sha256(source + f"{identity}|{defines}|{link}".encode()).hexdigest()
        target = cache_dir() / f"cpu_kernels-{digest[:16]}.so"
        if not target.exists():
            try:
                failure = _compile(compiler, target, defines, link)
            except OSError as exc:
                return None, f"cannot build in {target.parent}: {exc.strerror or exc}"
            if failure is not None:
                error = f"{compiler} failed: {failure}"
                continue
        try:
            library = ctypes.CDLL(str(target))
        except OSError as exc:
            error = f"cannot load {target}: {exc}"
            continue
        return library, str(target)
    return None, error
