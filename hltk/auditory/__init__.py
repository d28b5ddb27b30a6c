"""Differentiable auditory model (DRNL filterbank, IHC, log compression) with audiogram loss.

Gonzalez, Dau & May (Clarity 2025) train joint noise reduction and hearing-loss compensation
through this model; its filterbank is Lopez-Poveda & Meddis (2001). See
:mod:`hltk.auditory.model` for the stages and :mod:`hltk.auditory.design` for the filters and
their parameters; ``docs/auditory-model.md`` for what is tested and how it differs.
"""

from __future__ import annotations

from hltk.auditory.design import CENTRE_FREQUENCIES
from hltk.auditory.model import (
    AuditoryModel,
    HearingLoss,
    hearing_loss_from_audiogram,
    max_ohc_loss_db,
    nrmse,
)

__all__ = ["CENTRE_FREQUENCIES", "AuditoryModel", "HearingLoss", "hearing_loss_from_audiogram",
           "max_ohc_loss_db", "nrmse"]
