"""Neuro-MSBG's inference path (:meth:`NeuroMsbgNet.infer`, :mod:`hltk.nn.fused`) against the
modules it replaces at inference: every fused layer, the whole network on the shipped
checkpoints with real audiograms, other configurations, and the passes run side by side on
two threads (the same bits as on one)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from hltk.io.listeners import ListenerBatch, standard_listener
from hltk.nn import fused
from hltk.nn.heads import DenseBlock
from hltk.nn.sequence import ConvLayer
from hltk.simulate.neuro_msbg import (
    CHECKPOINT_DIR,
    NeuroMsbg,
    NeuroMsbgConfig,
    NeuroMsbgNet,
    load_model,
)
from tests.helpers import demo_speech

PROFILES = ("NH", "N1", "N3", "N5", "S1", "S3")
#: the issue's bound on the output change, on signals at real scale (speech near 0.1 RMS)
TOLERANCE = 1e-5


def _speech(count: int, seconds: float = 1.0) -> torch.Tensor:
    items = ["s01", "s02", "s03", "s04"]
    return torch.stack([
        torch.as_tensor(demo_speech(items[index % 4], seconds, 16000)[0], dtype=torch.float32)
        * (0.5 + 0.25 * index) for index in range(count)])


def _audiograms(count: int) -> torch.Tensor:
    listeners = ListenerBatch(tuple(standard_listener(PROFILES[i % len(PROFILES)])
                                    for i in range(-(-count // 2))))
    return listeners.audiograms().reshape(-1, 8)[:count]


def _channels_last(shape: tuple[int, ...], seed: int, offset: float = 0.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(shape, generator=generator) * 2.0 + offset
    return values.contiguous(memory_format=torch.channels_last)


def test_instance_norm_prelu_equals_the_modules() -> None:
    torch.manual_seed(0)
    norm, prelu = torch.nn.InstanceNorm2d(5, affine=True), torch.nn.PReLU(5)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2.0)
        norm.bias.normal_()
        prelu.weight.uniform_(-0.5, 0.5)
        features = _channels_last((3, 5, 17, 9), seed=1, offset=3.0)
        expected = prelu(norm(features))
        got = fused.instance_norm_prelu(features, norm, prelu)
        assert got.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(got, expected, atol=2e-6, rtol=0)
        # a contiguous (not channels-last) input gives the same values
        torch.testing.assert_close(fused.instance_norm_prelu(features.contiguous(), norm, prelu),
                                   expected, atol=2e-6, rtol=0)


def test_layer_norm_rows_equals_layer_norm() -> None:
    torch.manual_seed(0)
    norm = torch.nn.LayerNorm(12)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2.0)
        norm.bias.normal_()
        rows = torch.randn(1000, 12) * 3.0 + 5.0
        torch.testing.assert_close(fused.layer_norm_rows(rows, norm), norm(rows), atol=2e-6,
                                   rtol=0)


@pytest.mark.parametrize("axis", [2, 3])
def test_conv_layer_grid_equals_the_layer(axis: int) -> None:
    torch.manual_seed(2)
    layer = ConvLayer(6, 10).eval()
    with torch.no_grad():
        features = _channels_last((2, 6, 23, 11), seed=3)
        expected = layer.forward_grid(features, axis)
        got = fused.conv_layer_grid(layer, features, axis)
        assert got.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(got, expected, atol=2e-6, rtol=0)


def test_dense_block_equals_the_module() -> None:
    torch.manual_seed(4)
    block = DenseBlock(4, depth=3).eval()
    with torch.no_grad():
        for layer in block.layers:
            layer[1].weight.uniform_(0.5, 2.0)
            layer[1].bias.normal_()
        features = _channels_last((2, 4, 20, 9), seed=5)
        torch.testing.assert_close(fused.dense_block(block, features), block(features),
                                   atol=2e-6, rtol=0)


@pytest.mark.parametrize("length", [16000, 15999, 257])
def test_half_overlap_istft_is_torch_istft_to_the_bit(length: int) -> None:
    window = torch.hann_window(512)
    generator = torch.Generator().manual_seed(6)
    signal = torch.randn(3, length, generator=generator)
    spectrum = torch.stft(signal, 512, 256, window=window, center=True, pad_mode="reflect",
                          return_complex=True) * 1.5
    expected = torch.istft(spectrum, 512, 256, window=window, center=True, length=length)
    istft = fused.HalfOverlapIstft(window)
    got = istft(spectrum.transpose(1, 2), length)
    assert torch.equal(got, expected)
    assert torch.equal(istft(spectrum.transpose(1, 2), length), expected)  # the kept envelope


@pytest.mark.parametrize("name", ["neuro_msbg_cnn", "neuro_msbg_cnn_v1", "neuro_msbg_cnn_v2",
                                  "neuro_msbg_cnn_v3", "neuro_msbg_cnn_lowfloor",
                                  "neuro_msbg_lstm"])
def test_inference_path_equals_the_modules_on_the_shipped_checkpoints(name: str) -> None:
    model = load_model(CHECKPOINT_DIR / f"{name}.pt")
    audio = _speech(6, 1.0)
    levels = _audiograms(6)
    with torch.no_grad():
        expected = model(audio, levels)
        got = model.infer(audio, levels)
    assert float(expected.abs().max()) > 0.05  # real scale
    assert float((got - expected).abs().max()) <= TOLERANCE
    # and the audiogram matters (item 0 is NH, row 4 N3)
    assert float((got[0] - model.infer(audio[:1], levels[4:5])[0]).abs().max()) > 1e-4


@pytest.mark.parametrize("config", [
    dict(phase="none"), dict(phase="absolute"), dict(audiogram_encoder=False),
    dict(dense_depth=2), dict(hop=128), dict(block="transformer"),
])
def test_inference_path_equals_the_modules_in_other_configurations(config: dict[str, object]
                                                                   ) -> None:
    torch.manual_seed(7)
    settings: dict[str, object] = dict(channels=4, hidden=8, blocks=1, dense_depth=1, stride=8,
                                       hop=256)
    settings.update(config)
    model = NeuroMsbgNet(NeuroMsbgConfig(**settings)).eval()  # type: ignore[arg-type]
    audio = _speech(3, 0.5)
    levels = _audiograms(3)
    with torch.no_grad():
        expected = model(audio, levels)
    got = model.infer(audio, levels)  # no_grad inside
    assert not got.requires_grad
    assert float((got - expected).abs().max()) <= TOLERANCE


def test_infer_refuses_an_input_that_wants_gradients() -> None:
    model = load_model(CHECKPOINT_DIR / "neuro_msbg_cnn.pt")
    audio = _speech(1, 0.5).requires_grad_()
    with pytest.raises(RuntimeError, match="gradients"):
        model.infer(audio, _audiograms(1))


def test_backend_passes_on_two_threads_equal_one_thread_to_the_bit() -> None:
    backend = NeuroMsbg(cpu_frames=2 * (16000 // 256 + 1))  # two ear-signals per pass
    audio = _speech(4, 1.0).reshape(2, 2, -1)
    listeners = ListenerBatch((standard_listener("N2"), standard_listener("S1")))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with torch.no_grad():
            one = backend(audio, listeners)
        torch.set_num_threads(2)
        with torch.no_grad():
            two = backend(audio, listeners)
        assert torch.get_num_threads() == 2  # the caller's count is kept
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)
    # and the modules (the old path) agree to the bound
    model = backend.model
    with torch.no_grad():
        reference = model(audio.reshape(4, -1), listeners.audiograms().reshape(4, 8))
    assert float((one.reshape(4, -1) - reference).abs().max()) <= TOLERANCE


def test_backend_keeps_gradients_through_the_modules() -> None:
    backend = NeuroMsbg()
    audio = _speech(2, 0.5).reshape(1, 2, -1).requires_grad_()
    listeners = ListenerBatch((standard_listener("N3"),))
    output = backend(audio, listeners)
    output.square().sum().backward()
    assert audio.grad is not None and float(audio.grad.abs().max()) > 0
    with torch.no_grad():
        torch.testing.assert_close(output.detach(), backend(audio.detach(), listeners),
                                   atol=TOLERANCE, rtol=0)


def test_passes_in_threads_keeps_the_order_and_the_thread_count() -> None:
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        counts: list[int] = []

        def work(index: int) -> torch.Tensor:
            counts.append(torch.get_num_threads())
            return F.pad(torch.full((2,), float(index)), (0, index))

        parts = fused.passes_in_threads(work, list(range(5)), 2)
        assert [float(part[0]) for part in parts] == [0.0, 1.0, 2.0, 3.0, 4.0]
        assert [part.shape[0] for part in parts] == [2, 3, 4, 5, 6]
        assert counts == [1] * 5  # each worker on one torch thread
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_backend_items_of_many_lengths_on_two_threads_equal_one_thread_to_the_bit() -> None:
    """A padded batch whose items all differ in length runs its length groups side by side
    (each group single-threaded): the same bits as on one thread, zeros past each length."""
    backend = NeuroMsbg()
    speech = _speech(3, 1.0)
    sizes = [16000, 9000, 12345]
    audio = torch.zeros(3, 2, 16000)
    for index, size in enumerate(sizes):
        audio[index, 0, :size] = speech[index, :size]
        audio[index, 1, :size] = 0.5 * speech[index, :size]
    listeners = ListenerBatch((standard_listener("N2"), standard_listener("S1"),
                               standard_listener("N4")))
    threads = torch.get_num_threads()
    try:
        outputs = []
        for count in (1, 2):
            torch.set_num_threads(count)
            with torch.no_grad():
                outputs.append(backend(audio, listeners, lengths=torch.tensor(sizes)))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(outputs[0], outputs[1])
    for index, size in enumerate(sizes):
        assert not outputs[1][index, :, size:].any()
        assert float(outputs[1][index, :, :size].abs().max()) > 0.01
