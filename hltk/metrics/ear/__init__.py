"""The Kates auditory model (pyclarity ``clarity/evaluator/haspi/eb.py``), the front end of
HASPI v2, HASQI v2 and HAAQI (:mod:`hltk.metrics.indices`).

- :mod:`~hltk.metrics.ear.model`: :func:`~hltk.metrics.ear.model.ear_model`, batched, with its
  two channel loops (torch: any device, differentiable; compiled: CPU, no autograd);
- :mod:`~hltk.metrics.ear.channels`: the per-channel parameters both loops use;
- :mod:`~hltk.metrics.ear.filters`: the torch/scipy filters of the torch loop;
- :mod:`~hltk.metrics.ear.compiled`: the numba row kernels of the compiled loop, with their
  SIMD-lane intrinsics;
- :mod:`~hltk.metrics.ear.legacy_rng`: numpy's legacy normal stream, compiled, for the IHC
  threshold noise.
"""
