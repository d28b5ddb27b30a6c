"""Intelligibility prediction: the task of the Clarity Prediction Challenges (CPC2, CPC3) and the
Cadenza lyric-intelligibility challenges (CLIP).

- :mod:`hltk.predict.logistic` — the baselines' mapping from an objective score (better-ear
  HASPI, or any metric ``hltk evaluate`` writes) to listener correctness (0-100), fitted on a
  training set, or per item on a disjoint subset (the CPC2 / CPC3 train-set protocol).
- :mod:`hltk.predict.statistics` — RMSE, Std, NCC, KT as the recipes' ``evaluate.py`` compute
  them, plus SRCC, with bootstrap intervals.

The readers of the challenges' layouts (metadata -> an ``hltk evaluate`` manifest with a
``correctness`` column) are in :mod:`hltk.challenges` (``cpc2``, ``cpc3``, ``clip``).
"""
