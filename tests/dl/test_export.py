"""Exports round-trip: weights reload exactly; TorchScript and ONNX programs (normalisation folded in)
give the eager model's outputs within 1e-5 on raw features, at a batch size other than the traced one."""

import io
import warnings
from typing import Any

import numpy as np
import onnx
import pytest
import safetensors.torch
import torch
from onnx.reference import ReferenceEvaluator
from torch import Tensor, nn

from dl.errors import DLError
from dl.export import from_safetensors, to_onnx, to_safetensors, to_state_dict_bytes, to_torchscript
from dl.spec import build_model as _build_model


def build_model(spec: Any, shape: list[int], device: str = "cpu") -> Any:
    """build_model typed Any: the tests reach into submodules by attribute."""
    return _build_model(spec, shape, device=device)

MLP = {"layers": [{"type": "Linear", "out_features": 4}, {"type": "ReLU"},
                  {"type": "Linear", "out_features": 2}]}
CNN = {"layers": [{"type": "Conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1},
                  {"type": "BatchNorm2d"}, {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2},
                  {"type": "Flatten"}, {"type": "Linear", "out_features": 2}]}
LSTM = {"layers": [{"type": "LSTM", "hidden_size": 4, "bidirectional": True, "output": "last"},
                   {"type": "Linear", "out_features": 2}]}
TEXT = {"layers": [{"type": "Embedding", "num_embeddings": 9, "embedding_dim": 4},
                   {"type": "TransformerEncoderLayer", "nhead": 2, "dim_feedforward": 8},
                   {"type": "Flatten"}, {"type": "Bilinear", "out_features": 2}]}
# (spec, input shape, normalization or None)
CASES: dict[str, tuple[dict[str, Any], list[int], dict[str, list[float]] | None]] = {
    "mlp": (MLP, [3], {"mean": [1.0, 2.0, 3.0], "std": [2.0, 0.5, 1.0]}),
    "cnn": (CNN, [2, 4, 4], {"mean": [0.5, -1.0], "std": [2.0, 4.0]}),  # per channel
    "lstm": (LSTM, [5, 3], {"mean": [0.0, 1.0, 2.0], "std": [1.0, 1.0, 3.0]}),  # per feature of each step
    "text": (TEXT, [6], None),
}


def _model(name: str) -> tuple[nn.Module, list[int], dict[str, list[float]] | None, Tensor, Tensor]:
    """The built model (eval), its raw input x, and eager(normalised x) to compare exports against."""
    spec, shape, norm = CASES[name]
    torch.manual_seed(0)
    model = build_model(spec, shape).eval()
    x = torch.randint(0, 9, (5, *shape)).float() if name == "text" else torch.randn(5, *shape) * 3 + 1
    z = x
    if norm is not None:
        view = [1, -1, *[1] * (len(shape) - 1)] if len(shape) > 2 else [1] * len(shape) + [-1]
        z = (x - torch.tensor(norm["mean"]).reshape(view)) / torch.tensor(norm["std"]).reshape(view)
    with torch.no_grad():
        return model, shape, norm, x, model(z)


@pytest.mark.parametrize("name", sorted(CASES))
def test_to_torchscript_matches_eager_on_raw_input(name: str) -> None:
    model, shape, norm, x, expected = _model(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load's own notice
        program = torch.jit.load(io.BytesIO(to_torchscript(model, shape, norm)))
    torch.testing.assert_close(program(x), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(CASES))
def test_to_onnx_is_valid_and_matches_eager_on_raw_input(name: str) -> None:
    model, shape, norm, x, expected = _model(name)
    proto = onnx.load_from_string(to_onnx(model, shape, norm))
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["input"]
    (out,) = ReferenceEvaluator(proto).run(None, {"input": x.numpy()})
    np.testing.assert_allclose(np.asarray(out), expected.numpy(), atol=1e-5, rtol=1e-5)


def test_export_of_gan_gives_generator_samples_in_data_units() -> None:
    spec = {"latent_dim": 2, "generator": {"layers": [{"type": "Linear", "out_features": 3}]},
            "discriminator": {"layers": [{"type": "Linear", "out_features": 1}]}}
    gan = build_model(spec, [3]).eval()
    norm = {"mean": [10.0, 0.0, -5.0], "std": [2.0, 1.0, 0.5]}
    z = torch.randn(4, 2)
    with torch.no_grad():
        expected = gan.generator(z) * torch.tensor(norm["std"]) + torch.tensor(norm["mean"])
    proto = onnx.load_from_string(to_onnx(gan, [3], norm))
    (out,) = ReferenceEvaluator(proto).run(None, {"input": z.numpy()})
    np.testing.assert_allclose(np.asarray(out), expected.numpy(), atol=1e-5, rtol=1e-5)


def test_export_leaves_the_training_model_untouched() -> None:
    model = build_model(CNN, [2, 4, 4])
    to_torchscript(model, [2, 4, 4], None)
    assert model.training and model.layers[1].num_batches_tracked.item() == 0


@pytest.mark.parametrize("norm", [{"mean": [0.0, 1.0], "std": [1.0, 1.0]},
                                  {"mean": [0.0] * 3, "std": [1, 0, 1]}, {"std": [1.0] * 3}])
def test_export_refuses_normalization_that_does_not_fit(norm: dict[str, list[float]]) -> None:
    with pytest.raises(DLError, match="normalization"):
        to_onnx(build_model(MLP, [3]), [3], norm)


def test_to_onnx_reports_an_unexportable_model_as_dl_error() -> None:
    spec = {"layers": [{"type": "AdaptiveAvgPool1d", "output_size": 3}, {"type": "Flatten"}]}
    with pytest.raises(DLError, match="cannot be exported to ONNX"):
        to_onnx(build_model(spec, [2, 8]), [2, 8], None)  # ONNX pools only by a factor of the input


def test_to_safetensors_round_trips_weights_including_tied_ones() -> None:
    model = build_model(MLP, [3])
    weights = dict(model.state_dict())
    weights["tied"] = weights["layers.0.weight"]  # same storage twice: safetensors alone refuses it
    data = to_safetensors(weights)
    for loaded in (from_safetensors(data), safetensors.torch.load(data)):
        assert loaded.keys() == weights.keys()
        for key, value in weights.items():
            torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)


def test_to_state_dict_bytes_loads_with_weights_only_into_a_fresh_model() -> None:
    model = build_model(CNN, [2, 4, 4])
    model(torch.randn(3, 2, 4, 4))  # moves BatchNorm running stats off their initial values
    state = torch.load(io.BytesIO(to_state_dict_bytes(model.state_dict())), weights_only=True)
    fresh = build_model(CNN, [2, 4, 4])
    fresh.load_state_dict(state)
    x = torch.randn(2, 2, 4, 4)
    torch.testing.assert_close(fresh.eval()(x), model.eval()(x), rtol=0, atol=0)
