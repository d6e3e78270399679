"""Oracles: the instruments that answer a lab's measurements."""
from __future__ import annotations

import numbers

import numpy as np

from .material_space import MaterialSpace


class Oracle:
    """Measures one property of a material space, optionally with bias and Gaussian noise.

    ``measure(i) = truth[i] + bias + N(0, noise_std²)``, all in the property's units. An
    exact oracle is the paper's setting; a biased or noisy one models a fast
    simulation versus a slow robot (Sim2Real). The noise comes from the oracle's own
    ``numpy.random.Generator`` (seeded by ``seed``), so one lab's measurements never
    shift another's random stream.

    Args:
        space: the material space holding the ground truth.
        property: the property to measure (a name of ``space.property_names``).
        noise_std: standard deviation of the noise, >= 0, property units.
        bias: constant offset, property units.
        seed: seed of the noise generator (int, ``SeedSequence`` or None for fresh entropy).

    Raises:
        UnknownPropertyError: ``property`` is not in the space.
        ValueError: negative or non-finite ``noise_std``, non-finite ``bias``.
    """

    def __init__(
        self,
        space: MaterialSpace,
        property: str,  # noqa: A002 - the domain's word, as in LabSpec / ModelSnapshot
        noise_std: float = 0.0,
        bias: float = 0.0,
        seed: int | np.random.SeedSequence | None = None,
    ) -> None:
        truth = space.values(property)
        if not isinstance(noise_std, numbers.Real) or not np.isfinite(noise_std) or noise_std < 0:
            raise ValueError(f"noise_std = {noise_std!r}: expected a finite number >= 0")
        if not isinstance(bias, numbers.Real) or not np.isfinite(bias):
            raise ValueError(f"bias = {bias!r}: expected a finite number")
        self.space = space
        self.property = property
        self.noise_std = float(noise_std)
        self.bias = float(bias)
        self.n_measurements = 0
        """Number of materials measured so far (one per index, repeats included)."""
        self._truth = truth
        self._rng = np.random.default_rng(seed)

    @property
    def exact(self) -> bool:
        """True when measurements equal the ground truth (no noise, no bias)."""
        return self.noise_std == 0.0 and self.bias == 0.0

    def measure(self, indices: np.ndarray | int) -> np.ndarray:
        """Measure candidates by row index.

        Args:
            indices: integer row indices into the space, any shape (typically [m]).

        Returns:
            float64 array of the same shape as ``indices``: truth + bias + noise.

        Raises:
            TypeError: non-integer indices.
            IndexError: an index outside [0, N).
        """
        index = np.asarray(indices)
        if index.size == 0:
            return np.zeros(index.shape, dtype=np.float64)
        if index.dtype.kind not in "iu":
            raise TypeError(f"indices must be integers, got dtype {index.dtype}")
        n = len(self._truth)
        if index.min() < 0 or index.max() >= n:
            bad = index[(index < 0) | (index >= n)].flat[0]
            raise IndexError(f"index {int(bad)} is outside the material space {self.space.name!r} [0, {n})")
        values = self._truth[index] + self.bias
        if self.noise_std > 0.0:
            values = values + self._rng.normal(0.0, self.noise_std, size=index.shape)
        self.n_measurements += int(index.size)
        return np.array(values, dtype=np.float64)

    def __repr__(self) -> str:
        return (
            f"Oracle(space={self.space.name!r}, property={self.property!r}, "
            f"noise_std={self.noise_std}, bias={self.bias})"
        )
