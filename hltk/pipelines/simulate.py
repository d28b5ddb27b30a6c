"""``hltk simulate``: hearing-loss simulation of every item of a manifest."""

from __future__ import annotations

from hltk.pipelines.process import task_pipeline

TASK = "simulate"

simulate = task_pipeline(TASK, "Simulate each item's hearing loss (default backend: pyclarity MSBG).")

