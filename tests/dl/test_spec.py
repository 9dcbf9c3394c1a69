"""build_model on the seed examples, checked against hand computations with fixed weights."""

from typing import Any

import torch
from torch import nn

from dl.composites import GAN
from dl.spec import build_model as _build_model
from dl.spec import count_parameters, output_shape


def build_model(spec: Any, shape: list[int], device: str = "cpu") -> Any:
    """build_model typed Any: the tests reach into submodules by attribute."""
    return _build_model(spec, shape, device=device)


def _set(layer: Any, weight: list[list[float]], bias: list[float]) -> None:
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
        layer.bias.copy_(torch.tensor(bias))


def test_build_two_layer_relu_net_matches_hand_computation() -> None:
    spec = {"layers": [{"type": "Linear", "out_features": 2}, {"type": "ReLU"},
                       {"type": "Linear", "out_features": 1}]}
    model = build_model(spec, [2])
    _set(model.layers[0], [[1, -1], [2, 0.5]], [0, -1])
    _set(model.layers[2], [[1, -2]], [0.5])
    # x=[3,1]: h=[2, 5.5] -> y = 2 - 11 + 0.5; x=[-1,2]: h=[-3,-2] -> relu 0 -> y = 0.5
    y = model(torch.tensor([[3.0, 1.0], [-1.0, 2.0]]))
    torch.testing.assert_close(y, torch.tensor([[-8.5], [0.5]]))


def test_build_parallel_mul_block_matches_hand_computation() -> None:
    spec = {"layers": [
        {"type": "Parallel", "merge": "mul",
         "branches": [[{"type": "Linear", "out_features": 2}], [{"type": "Linear", "out_features": 2}]]},
        {"type": "ReLU"}]}
    model = build_model(spec, [2])
    _set(model.layers[0].branches[0][0], [[1, 0], [0, 1]], [0, 0])
    _set(model.layers[0].branches[1][0], [[1, 1], [-1, 0]], [1, 0])
    # x=[2,3]: a=[2,3], b=[6,-2] -> [12,-6] -> [12,0]; x=[-1,1]: a=[-1,1], b=[1,1] -> [-1,1] -> [0,1]
    y = model(torch.tensor([[2.0, 3.0], [-1.0, 1.0]]))
    torch.testing.assert_close(y, torch.tensor([[12.0, 0.0], [0.0, 1.0]]))


def test_build_residual_adds_input_back() -> None:
    spec = {"layers": [{"type": "Residual", "layers": [{"type": "Linear", "out_features": 2}]}]}
    model = build_model(spec, [2])
    _set(model.layers[0].layers[0], [[2, 0], [0, 2]], [1, 0])
    torch.testing.assert_close(model(torch.tensor([[1.0, -1.0]])), torch.tensor([[4.0, -3.0]]))


def test_build_parallel_concat_joins_channels() -> None:
    conv = {"type": "Conv2d", "kernel_size": 3, "padding": 1}
    spec = {"layers": [{"type": "Parallel", "merge": "concat",
                        "branches": [[{**conv, "out_channels": 2}], [{**conv, "out_channels": 5}]]}]}
    model = build_model(spec, [1, 6, 6])
    x = torch.randn(3, 1, 6, 6)
    parts = [branch(x) for branch in model.layers[0].branches]
    torch.testing.assert_close(model(x), torch.cat(parts, dim=1))
    assert output_shape(model, [1, 6, 6]) == (7, 6, 6)


def test_build_lstm_many_to_one_gives_one_vector_per_sequence() -> None:
    spec = {"layers": [{"type": "LSTM", "hidden_size": 8, "num_layers": 2, "output": "last"},
                       {"type": "Linear", "out_features": 3}]}
    model = build_model(spec, [10, 4])
    assert model.layers[0].input_size == 4
    assert tuple(model(torch.randn(5, 10, 4)).shape) == (5, 3)
    assert output_shape(model, [10, 4]) == (3,)


def test_build_contract_example_names_modules_like_the_spec() -> None:
    spec = {"layers": [
        {"type": "Conv2d", "out_channels": 16, "kernel_size": 5, "padding": 2},
        {"type": "BatchNorm2d"}, {"type": "ReLU"}, {"type": "MaxPool2d", "kernel_size": 2},
        {"type": "Flatten"},
        {"type": "Parallel", "branches": [[{"type": "Linear", "out_features": 64}],
                                          [{"type": "Linear", "out_features": 64}]], "merge": "mul"},
        {"type": "ReLU"}, {"type": "Dropout", "p": 0.2},
        {"type": "Linear", "out_features": 10}]}
    model = build_model(spec, [1, 28, 28])
    keys = set(model.state_dict())
    assert {"layers.0.weight", "layers.1.running_mean", "layers.5.branches.1.0.weight",
            "layers.8.bias"} <= keys
    assert model.layers[5].branches[0][0].in_features == 16 * 14 * 14
    assert isinstance(model.get_submodule("layers.0"), nn.Conv2d)  # a freeze path names spec layer 0
    assert output_shape(model, [1, 28, 28]) == (10,)


def test_build_nested_sequential_keeps_spec_paths() -> None:
    inner = [{"type": "ReLU"}, {"type": "Linear", "out_features": 3}]
    spec = {"layers": [{"type": "Sequential", "layers": inner}]}
    model = build_model(spec, [4])
    assert set(model.state_dict()) == {"layers.0.layers.1.weight", "layers.0.layers.1.bias"}


def test_build_on_meta_allocates_nothing_and_counts_the_same() -> None:
    spec = {"layers": [{"type": "Linear", "out_features": 3}, {"type": "BatchNorm1d"}]}
    meta = build_model(spec, [5], device="meta")
    cpu = build_model(spec, [5])
    assert all(t.is_meta for t in [*meta.parameters(), *meta.buffers()])
    assert not any(t.is_meta for t in [*cpu.parameters(), *cpu.buffers()])
    assert count_parameters(meta) == count_parameters(cpu) == 5 * 3 + 3 + 3 + 3
    assert output_shape(cpu, [5]) == (3,)  # the dry run leaves the CPU model untouched
    assert cpu.training and cpu.layers[1].num_batches_tracked.item() == 0


def test_build_same_seed_gives_same_weights() -> None:
    spec: dict[str, Any] = {"layers": [{"type": "Linear", "out_features": 3}]}
    torch.manual_seed(7)
    a = build_model(spec, [4])
    torch.manual_seed(7)
    b = build_model(spec, [4])
    torch.manual_seed(7)
    plain = nn.Linear(4, 3)  # building on meta first must not consume the CPU generator
    torch.testing.assert_close(a.layers[0].weight, b.layers[0].weight)
    torch.testing.assert_close(a.layers[0].weight, plain.weight)


def test_build_gan_checks_both_halves() -> None:
    spec = {"latent_dim": 4,
            "generator": {"layers": [{"type": "Linear", "out_features": 6}, {"type": "Tanh"},
                                     {"type": "Reshape", "shape": [1, 2, 3]}]},
            "discriminator": {"layers": [{"type": "Flatten"}, {"type": "Linear", "out_features": 1}]}}
    gan = build_model(spec, [1, 2, 3])
    assert isinstance(gan, GAN) and gan.latent_dim == 4
    samples = gan.generator(torch.randn(5, 4))
    assert tuple(samples.shape) == (5, 1, 2, 3)
    assert tuple(gan.discriminator(samples).shape) == (5, 1)
    assert "generator.layers.0.weight" in gan.state_dict()
    assert count_parameters(gan) == (4 * 6 + 6) + (6 + 1)
