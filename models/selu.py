"""The SELU activation's constants (Klambauer et al. 2017), as Keras and torch define them.

Every layer of an ensemble member uses SELU (docs/algorithm.md → the ensemble member); the numba
training kernel, the torch engine and the prediction kernels compute it from these two numbers.
"""
SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
