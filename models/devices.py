"""Which device and engine ``auto`` means on this machine (light: torch only where a GPU may exist).

``engine: auto`` / ``device: auto`` of a :class:`~labnet.models.config.LearnerConfig` resolve
here when the config is made, so the resolved scenario records what ran. On a machine with no
NVIDIA device node torch cannot see a CUDA GPU either, and torch is not imported at all: a
scenario validates without loading torch (``tests/test_layers.py``).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

NVIDIA_DEVICE_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/proc/driver/nvidia/gpus")


@lru_cache(maxsize=1)
def gpu_available() -> bool:
    """Whether torch sees a CUDA GPU (checked once per process; False at once without an NVIDIA device)."""
    if not any(Path(node).exists() for node in NVIDIA_DEVICE_NODES):
        return False
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


def resolve_engine(engine: str, device: str) -> tuple[str, str]:
    """(engine, device) with ``auto`` replaced by what will run on this machine.

    engine auto: torch when the device is (or resolves to) cuda, else numba. device auto: cuda
    for the torch engine when a GPU is present, else cpu; always cpu for numba.
    """
    if device == "auto":
        device = "cuda" if engine in ("auto", "torch") and gpu_available() else "cpu"
    if engine == "auto":
        engine = "torch" if device == "cuda" else "numba"
    return engine, device
