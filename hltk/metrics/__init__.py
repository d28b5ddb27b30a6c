"""Metrics: scoring (reference, processed) pairs with HASPI, HASQI, HAAQI, STOI, ESTOI, PESQ and
SI-SDR.

- :mod:`~hltk.metrics.engine_clarity`, :mod:`~hltk.metrics.engine_torch`: the two scoring
  engines of ``hltk evaluate --engine``: ``clarity`` (the reference implementations, one item
  at a time) and ``fast``, the default (HASPI / HASQI / HAAQI batched through
  :mod:`~hltk.metrics.indices`, the same ears, calibration and seeds; ``torch`` is its former
  name). "Engine" means these two only; :mod:`hltk.pipelines.provenance` names and records them.
- :mod:`~hltk.metrics.indices`: the batched torch ports of HASPI v2, HASQI v2 and HAAQI.
- :mod:`hltk.metrics.ear`: the Kates auditory model they share (model, channel parameters,
  filters, compiled kernels, the legacy normal stream).
- :mod:`~hltk.metrics.stats`, :mod:`~hltk.metrics.plots`: agreement statistics and plots.
"""
