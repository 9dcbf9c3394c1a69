"""One case per allow-listed layer type: it builds, gives the right output shape on CPU (a real forward
pass) and on meta, and infers its input-dependent sizes from the shape reaching it."""

from typing import Any

import pytest
import torch
from torch import nn

from dl.layers import LAYERS
from dl.spec import build_model as _build_model
from dl.spec import output_shape


def build_model(spec: Any, shape: list[int], device: str = "cpu") -> Any:
    """build_model typed Any: the tests reach into submodules by attribute."""
    return _build_model(spec, shape, device=device)

# type -> (arguments, input shape, expected output shape, inferred attributes of the built module)
CASES: dict[str, tuple[dict[str, Any], list[int], tuple[int, ...], dict[str, Any]]] = {
    "Linear": ({"out_features": 3}, [5], (3,), {"in_features": 5}),
    "Bilinear": ({"out_features": 3}, [4, 5], (4, 3), {"in1_features": 5, "in2_features": 5}),
    "Conv1d": ({"out_channels": 4, "kernel_size": 3}, [2, 10], (4, 8), {"in_channels": 2}),
    "Conv2d": ({"out_channels": 4, "kernel_size": 3, "padding": 1}, [2, 5, 6], (4, 5, 6), {"in_channels": 2}),
    "Conv3d": ({"out_channels": 4, "kernel_size": [1, 2, 3]}, [2, 3, 4, 5], (4, 3, 3, 3), {"in_channels": 2}),
    "ConvTranspose1d": ({"out_channels": 4, "kernel_size": 3, "stride": 2}, [2, 10], (4, 21),
                        {"in_channels": 2}),
    "ConvTranspose2d": ({"out_channels": 1, "kernel_size": 2, "stride": 2}, [3, 4, 5], (1, 8, 10),
                        {"in_channels": 3}),
    "BatchNorm1d": ({}, [6, 4], (6, 4), {"num_features": 6}),
    "BatchNorm2d": ({"momentum": 0.2}, [3, 4, 4], (3, 4, 4), {"num_features": 3}),
    "LayerNorm": ({}, [3, 6], (3, 6), {"normalized_shape": (6,)}),
    "GroupNorm": ({"num_groups": 2}, [4, 3, 3], (4, 3, 3), {"num_channels": 4}),
    "Dropout": ({"p": 0.5}, [7], (7,), {"p": 0.5}),
    "Dropout2d": ({"p": 0.1}, [2, 4, 4], (2, 4, 4), {"p": 0.1}),
    "MaxPool1d": ({"kernel_size": 2}, [3, 9], (3, 4), {}),
    "MaxPool2d": ({"kernel_size": 2, "stride": 1}, [3, 4, 4], (3, 3, 3), {}),
    "AvgPool1d": ({"kernel_size": 3}, [3, 9], (3, 3), {}),
    "AvgPool2d": ({"kernel_size": 2}, [3, 8, 6], (3, 4, 3), {}),
    "AdaptiveAvgPool1d": ({"output_size": 2}, [3, 8], (3, 2), {}),
    "AdaptiveAvgPool2d": ({"output_size": [2, 3]}, [3, 8, 9], (3, 2, 3), {}),
    "Flatten": ({}, [2, 3, 4], (24,), {}),
    "Unflatten": ({"dim": 1, "unflattened_size": [2, 3]}, [6], (2, 3), {}),
    "Reshape": ({"shape": [2, -1]}, [12], (2, 6), {}),
    "Permute": ({"dims": [1, 0]}, [2, 5], (5, 2), {}),
    "Embedding": ({"num_embeddings": 10, "embedding_dim": 4}, [7], (7, 4), {"num_embeddings": 10}),
    "LSTM": ({"hidden_size": 5}, [7, 3], (7, 5), {"input_size": 3, "batch_first": True}),
    "GRU": ({"hidden_size": 5, "bidirectional": True}, [7, 3], (7, 10),
            {"input_size": 3, "batch_first": True}),
    "RNN": ({"hidden_size": 5, "num_layers": 2, "output": "last"}, [7, 3], (5,), {"input_size": 3}),
    "TransformerEncoderLayer": ({"nhead": 2, "dim_feedforward": 16}, [7, 8], (7, 8), {}),
    "ReLU": ({}, [4], (4,), {}),
    "LeakyReLU": ({"negative_slope": 0.2}, [4], (4,), {"negative_slope": 0.2}),
    "PReLU": ({"num_parameters": 3}, [3, 2], (3, 2), {"num_parameters": 3}),
    "ELU": ({"alpha": 0.5}, [4], (4,), {"alpha": 0.5}),
    "GELU": ({"approximate": "tanh"}, [4], (4,), {"approximate": "tanh"}),
    "SiLU": ({}, [4], (4,), {}),
    "Sigmoid": ({}, [4], (4,), {}),
    "Tanh": ({}, [4], (4,), {}),
    "Softmax": ({}, [2, 4], (2, 4), {"dim": -1}),
    "LogSoftmax": ({"dim": 1}, [2, 4], (2, 4), {"dim": 1}),
}


def test_cases_cover_the_allow_list() -> None:
    assert set(CASES) == set(LAYERS)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_build_layer_gives_shape_and_inferred_sizes(kind: str) -> None:
    args, shape, expected, inferred = CASES[kind]
    model = build_model({"layers": [{"type": kind, **args}]}, shape)
    layer = model.layers[0]
    x = torch.randint(0, 10, (3, *shape)).float()  # integer-valued: valid Embedding ids, fine for others
    assert tuple(model.eval()(x).shape) == (3, *expected)
    assert output_shape(model, shape) == expected
    for attr, value in inferred.items():
        assert getattr(layer, attr) == value, attr
    meta = build_model({"layers": [{"type": kind, **args}]}, shape, device="meta")
    assert all(p.is_meta for p in meta.parameters())


def test_build_transformer_infers_d_model_and_runs_batch_first() -> None:
    model = build_model({"layers": [{"type": "TransformerEncoderLayer", "nhead": 2}]}, [7, 8])
    layer = model.layers[0]
    assert layer.self_attn.embed_dim == 8 and layer.self_attn.batch_first


def test_build_bilinear_computes_x_w_x() -> None:
    model = build_model({"layers": [{"type": "Bilinear", "out_features": 2}]}, [3])
    layer = model.layers[0]
    x = torch.randn(4, 3)
    expected = nn.functional.bilinear(x, x, layer.weight, layer.bias)
    torch.testing.assert_close(model(x), expected)


def test_build_embedding_casts_float_ids() -> None:
    model = build_model({"layers": [{"type": "Embedding", "num_embeddings": 5, "embedding_dim": 2}]}, [3])
    ids = torch.tensor([[0.0, 4.0, 2.0]])
    torch.testing.assert_close(model(ids)[0], model.layers[0].weight[[0, 4, 2]])


def test_build_lstm_last_equals_final_step_of_sequence() -> None:
    torch.manual_seed(0)
    seq = build_model({"layers": [{"type": "LSTM", "hidden_size": 4}]}, [6, 3])
    last = build_model({"layers": [{"type": "LSTM", "hidden_size": 4, "output": "last"}]}, [6, 3])
    last.load_state_dict(seq.state_dict())
    x = torch.randn(2, 6, 3)
    torch.testing.assert_close(last(x), seq(x)[:, -1])


def test_build_bidirectional_gru_last_joins_both_directions() -> None:
    torch.manual_seed(0)
    spec = {"layers": [{"type": "GRU", "hidden_size": 4, "bidirectional": True, "output": "last"}]}
    model = build_model(spec, [6, 3])
    x = torch.randn(2, 6, 3)
    seq, _ = nn.GRU.forward(model.layers[0], x)
    # forward direction ends at the last step, backward direction at the first
    torch.testing.assert_close(model(x), torch.cat([seq[:, -1, :4], seq[:, 0, 4:]], dim=1))


def test_build_reshape_and_permute_number_dims_without_batch() -> None:
    spec = {"layers": [{"type": "Reshape", "shape": [2, 3]}, {"type": "Permute", "dims": [1, 0]}]}
    model = build_model(spec, [6])
    x = torch.arange(12.0).reshape(2, 6)
    torch.testing.assert_close(model(x), x.reshape(2, 2, 3).permute(0, 2, 1))
