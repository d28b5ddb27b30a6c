"""The Processor contract that every backend of every task follows (see DESIGN.md).

:class:`Processor` is what a backend must have; :class:`ProcessorDefaults` documents, with
their defaults, the attributes a backend may have, and :func:`optional` reads one of them
(the one place those defaults live). How a backend is registered, with its options:
:mod:`hltk.registry`.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from hltk.io.listeners import ListenerBatch


@runtime_checkable
class Processor(Protocol):
    """One backend of one task (``simulate``, ``amplify``, ...).

    ``__call__(audio, listeners, lengths=..., level_db_spl=..., seeds=...)``:

    - ``audio``: float32 ``[batch, channels, time]`` at :attr:`sample_rate`, channel ``c`` is
      ear ``listeners.ears[c]``; items shorter than ``time`` are zero-padded at the end.
    - ``lengths``: int64 ``[batch]``, each item's true length in samples.
    - ``level_db_spl``: float ``[batch]``, dB SPL of a digital RMS of 1 for each item.
    - ``seeds``: one integer per item (``md5(seed, id)``) for any random draw.

    Returns ``[batch, channels, time]``: the same length as the input, time-aligned with it
    (the backend's own delay removed). Samples past an item's length are ignored.

    Optional attributes (absent = the default of :class:`ProcessorDefaults`, read with
    :func:`optional`): ``describe()`` and ``default_level_db_spl`` for every backend, and for
    backends whose work is more than one signal in, one signal out (``remix``):

    - ``input_columns: tuple[str, ...]``: further audio columns of the manifest row (e.g. the
      stems ``vocals``, ``drums``, ``bass``, ``other``). The runner reads them, selects ears and
      resamples them like the main audio, and calls the processor with two more keywords:
      ``inputs`` (one ``{column: [channels, time]}`` per item) and ``rows`` (one manifest row
      ``{column: value}`` per item). Declaring it, even empty, asks for ``rows``. Per-item
      (``batched = False``) processors only.
    - ``output_sample_rate: int``: the processor returns audio at this rate and the runner
      writes it at this rate (default: resampled back to the input's rate).
    - ``keeps_length: bool`` (default True): False keeps the returned length (e.g. a full
      convolution, as the Cadenza recipe writes) instead of cutting to the input's length.
      Per-item processors only.
    - ``resampler: str`` (default ``"soxr"``): how the runner resamples the audio in (the main
      and further columns) and back out, one of :data:`hltk.io.audio.RESAMPLERS`: ``soxr``
      (very high quality) or ``fft`` (:func:`hltk.io.audio.fft_resample`: band-limited,
      within about -60 dB of soxr, several times faster over a batch). Nothing changes when
      the rates are equal.
    """

    name: str
    sample_rate: int
    batched: bool

    def __call__(
        self,
        audio: torch.Tensor,
        listeners: ListenerBatch,
        *,
        lengths: torch.Tensor,
        level_db_spl: torch.Tensor,
        seeds: list[int],
    ) -> torch.Tensor: ...



class ProcessorDefaults:
    """The optional attributes of a :class:`Processor`, with the value an absent one has.

    A backend may inherit this class or simply define the attributes it needs; readers go
    through :func:`optional`, so a backend that defines none behaves as documented here.
    (``input_columns`` is the exception that is read by presence: declaring it, even empty,
    asks the runner for ``rows``; see :class:`Processor`.)
    """

    #: dB SPL of a digital RMS of 1 when neither ``--level-db-spl`` nor a ``level_db_spl``
    #: column gives one (the toolkit's calibration; MSBG's and the metrics' default too).
    default_level_db_spl: float = 100.0
    #: the rate the processor returns audio at (None: the input's rate, the runner resamples
    #: back to the item's own rate).
    output_sample_rate: int | None = None
    #: False: the runner keeps the returned length instead of cutting to the input's.
    keeps_length: bool = True
    #: how the runner resamples in and out (:data:`hltk.io.audio.RESAMPLERS`).
    resampler: str = "soxr"

    def describe(self) -> dict[str, Any]:
        """Settings for the run record (``run.json``'s ``processor``): nothing by default."""
        return {}


def optional(processor: object, name: str) -> Any:
    """The optional attribute ``name`` of ``processor``, or its :class:`ProcessorDefaults`
    default. ``describe`` is called: this returns its dictionary."""
    if name == "describe":
        method = getattr(processor, "describe", None)
        return method() if callable(method) else {}
    if not hasattr(ProcessorDefaults, name):
        raise AttributeError(f"{name!r} is not an optional Processor attribute")
    return getattr(processor, name, getattr(ProcessorDefaults, name))
