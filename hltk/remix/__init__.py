"""Music remixing for listeners with hearing loss: the Cadenza ICASSP 2024 and CAD2 baseline chains.

- :mod:`hltk.remix.chain`: per-stem gains (dB re the stem's own integrated LUFS), remix,
  loudness match to the mixture, NAL-R per ear, 32 kHz output — one function per step;
- :mod:`hltk.remix.separators`: ``oracle`` (the manifest's stems) and ``hdemucs`` (the
  baseline's Hybrid Demucs from a local weights file, segment-wise with cross-fades);
- :mod:`hltk.remix.hdemucs`: the Hybrid Demucs model (``hdemucs_high``, torchaudio's
  parameter names);
- :mod:`hltk.remix.gains`: gains from ``gain_<stem>`` columns or a Cadenza ``gains.json``;
- :mod:`hltk.remix.processor`: the chain as a runner Processor (``hltk remix``);
- :mod:`hltk.remix.scoring`: Cadenza HAAQI (``hltk evaluate --preset cadenza-icassp2024``);
- :mod:`hltk.remix.cadenza`: Cadenza metadata -> manifest (``hltk manifest cadenza``);
- :mod:`hltk.remix.cad2`: CAD2 task 1 / task 2 metadata -> manifest (``hltk manifest cad2``);
  the CAD2 chains (any number of stems per row, the per-listener multiband compressor) are
  steps of :mod:`hltk.remix.chain`, ``hltk remix --chain cad2-task2|cad2-task1``, and their
  HAAQI ``hltk evaluate --preset cad2-task2|cad2-task1`` (:mod:`hltk.remix.scoring`).
"""
