"""Helpers of ``hltk benchmark``: the benchmark corpus, timers and memory probes, the table of
metric engines, and the report (Markdown tables, plots). The orchestration is in
:mod:`hltk.pipelines.benchmark`."""
