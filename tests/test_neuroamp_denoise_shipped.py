"""The shipped Denoising NeuroAMP (issue 28 part 3): ``neuroamp_denoise.pt`` is the first
babble retraining (kept with its bytes as ``neuroamp_denoise_v2.pt``, itself the earlier default
``neuroamp_denoise_v1.pt`` fine-tuned twice on recorded speech in babble of other recorded
talkers) fine-tuned again with a band level loss and a STOI band loss; same network, so the same
speed, and the default backend loads it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from hltk.io.listeners import ListenerBatch
from hltk.nn.checkpoint import load_checkpoint

CHECKPOINTS = Path(__file__).resolve().parent.parent / "hltk" / "checkpoints"


def test_the_earlier_default_ships_unchanged_as_v1() -> None:
    v1 = CHECKPOINTS / "neuroamp_denoise_v1.pt"
    assert hashlib.sha256(v1.read_bytes()).hexdigest() == (
        "22d68c0ed4cfd254238cb3e3d3678b5b3a7b090cc4d6825f05f48899946e68c7")


def test_the_earlier_default_ships_unchanged_as_v2() -> None:
    v2 = CHECKPOINTS / "neuroamp_denoise_v2.pt"
    assert hashlib.sha256(v2.read_bytes()).hexdigest().startswith("c829336726691090")


def test_v2_is_v1_fine_tuned_on_recorded_babble() -> None:
    v2 = load_checkpoint(CHECKPOINTS / "neuroamp_denoise_v2.pt", expect_model="neuroamp-denoise")
    old = load_checkpoint(CHECKPOINTS / "neuroamp_denoise_v1.pt", expect_model="neuroamp-denoise")
    assert v2["config"] == old["config"]
    training = v2["training"]
    first = training["init"]["training"]       # fine-tune (1), from v1
    assert first["steps"] == 8000 and training["steps"] == 5000
    assert first["init"]["training"]["steps"] == old["training"]["steps"]
    manifests = [source["manifest"] for source in training["data"]["sources"]]
    assert any("babble" in m for m in manifests) and any("recorded-noisy" in m for m in manifests)
    assert training["data"]["target_backend"] == "nalr-wdrc"


def _assert_fine_tuned_with_level_and_stoi(name: str, start: str, steps: int,
                                           babble_corpora: int) -> None:
    """``name`` is ``start`` fine-tuned for ``steps`` steps (same config, ``start``'s record as
    its init, weights changed) with the level and STOI losses on ``babble_corpora`` babble
    corpora and recorded-noisy."""
    new = load_checkpoint(CHECKPOINTS / name, expect_model="neuroamp-denoise")
    old = load_checkpoint(CHECKPOINTS / start, expect_model="neuroamp-denoise")
    assert new["config"] == old["config"]
    training = new["training"]
    assert training["steps"] == steps
    assert training["init"]["training"]["steps"] == old["training"]["steps"]
    assert training["init"]["training"]["history"] == old["training"]["history"]
    loss = training["data"]["loss"]
    assert "0.5 x STOI band loss" in loss and "2 x third-octave band level loss" in loss
    manifests = [source["manifest"] for source in training["data"]["sources"]]
    assert sum("babble" in m for m in manifests) == babble_corpora
    assert any("recorded-noisy" in m for m in manifests)
    changed = [key for key, tensor in new["state_dict"].items()
               if not torch.equal(tensor, old["state_dict"][key])]
    assert changed  # really retrained


def test_v3_is_v2_fine_tuned_with_the_level_and_stoi_losses() -> None:
    _assert_fine_tuned_with_level_and_stoi("neuroamp_denoise_v3.pt", "neuroamp_denoise_v2.pt", 4000, 2)


def test_the_earlier_default_ships_unchanged_as_v3() -> None:
    v3 = CHECKPOINTS / "neuroamp_denoise_v3.pt"
    assert hashlib.sha256(v3.read_bytes()).hexdigest().startswith("18b9e4a9061dee05")


def test_the_default_is_v3_fine_tuned_with_speed_perturbed_talkers() -> None:
    _assert_fine_tuned_with_level_and_stoi("neuroamp_denoise.pt", "neuroamp_denoise_v3.pt", 2500, 3)
    sources = load_checkpoint(CHECKPOINTS / "neuroamp_denoise.pt")["training"]["data"]["sources"]
    assert any("babble600c" in source["manifest"] for source in sources)  # the --speed corpus


def test_the_backend_defaults_to_the_new_checkpoint() -> None:
    from hltk.denoise.neuroamp_denoise import NeuroAmpDenoiseProcessor

    path = NeuroAmpDenoiseProcessor.default_checkpoint(None, None)  # type: ignore[arg-type]
    assert hashlib.sha256(Path(path).read_bytes()).hexdigest().startswith("5d774b9721c99e94")


def test_the_backend_bounds_the_noise_reduction_at_6_db_by_default() -> None:
    from hltk.denoise.neuroamp_denoise import NeuroAmpDenoiseOptions, NeuroAmpDenoiseProcessor

    assert NeuroAmpDenoiseOptions().max_attenuation == 6.0
    processor = NeuroAmpDenoiseProcessor()
    assert processor.describe()["max_attenuation_db"] == 6.0
    _, listeners = _noise_and_listeners()
    assert processor.runner.gain_floors(listeners, torch.device("cpu")) is not None


def _noise_and_listeners() -> tuple[torch.Tensor, ListenerBatch]:
    from tests.helpers import batch_of

    generator = torch.Generator().manual_seed(3)
    noise = 0.03 * torch.randn(2, 2, 16000, generator=generator)  # babble-free white noise
    return noise, batch_of("N3", "S2")


def test_max_attenuation_floors_each_bin_at_nalr_minus_the_depth() -> None:
    """``--max-attenuation A``: the gain floor of each ear is NAL-R's response minus A dB; at 1 kHz
    (STFT bin 32 at 16 kHz / 512 points) it is NAL-R's prescribed gain there."""
    from hltk.amplify.nalr import NALR_FREQUENCIES, clamped_hearing_levels, nalr_gains_db
    from hltk.denoise.neuroamp_denoise import NeuroAmpDenoiseProcessor

    _, listeners = _noise_and_listeners()
    processor = NeuroAmpDenoiseProcessor(max_attenuation=12.0)
    floors = processor.runner.gain_floors(listeners, torch.device("cpu"))
    assert floors is not None and floors.shape == (2, 2, 257)
    prescribed = nalr_gains_db(clamped_hearing_levels(listeners, NALR_FREQUENCIES))
    assert torch.allclose(floors[..., 32], (prescribed[..., 2] - 12.0).float(), atol=1e-4)
    assert processor.describe()["max_attenuation_db"] == 12.0
    unbounded = NeuroAmpDenoiseProcessor(max_attenuation=float("inf"))
    assert unbounded.runner.gain_floors(listeners, torch.device("cpu")) is None


def test_max_attenuation_bounds_the_noise_reduction() -> None:
    """The network attenuates steady noise; a depth bound gives some of it back, the smaller the
    depth the more, and a depth beyond the gain head's range changes nothing."""
    from hltk.denoise.neuroamp_denoise import NeuroAmpDenoiseProcessor

    noise, listeners = _noise_and_listeners()

    def level_db(max_attenuation: float | None) -> tuple[torch.Tensor, torch.Tensor]:
        output = NeuroAmpDenoiseProcessor(max_attenuation=max_attenuation)(noise, listeners)
        return output, 10 * torch.log10(output.pow(2).mean())

    free, free_db = level_db(float("inf"))
    deep, deep_db = level_db(1000.0)
    shallow, shallow_db = level_db(6.0)
    none, none_db = level_db(0.0)
    assert torch.equal(free, deep)
    assert float(shallow_db) > float(free_db) + 1.0
    assert float(none_db) > float(shallow_db)


def test_max_attenuation_refuses_negative_depths() -> None:
    import pytest

    from hltk.denoise.neuroamp_denoise import NeuroAmpDenoiseProcessor

    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="max-attenuation"):
            NeuroAmpDenoiseProcessor(max_attenuation=bad)
