"""Impossible specs: one ShapeError naming the layer path, its input shape and what it expected;
malformed specs: one SpecError whose loc points at the offending key."""

from typing import Any

import pytest
from torch import nn

from dl.errors import ShapeError, SpecError
from dl.spec import MAX_DEPTH, MAX_LAYERS, build_model, validate_spec


def _shape_error(spec: dict[str, Any], shape: list[int]) -> ShapeError:
    with pytest.raises(ShapeError) as info:
        build_model(spec, shape, device="meta")
    return info.value


def _spec_error(spec: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        validate_spec(spec)
    return info.value


def test_build_conv_on_flat_input_names_layer_and_shapes() -> None:
    err = _shape_error({"layers": [{"type": "Conv2d", "out_channels": 4, "kernel_size": 3}]}, [64])
    assert (err.path, err.loc, err.input_shape) == ("layers.0", ("layers", 0), (64,))
    assert "[64]" in str(err) and "(channels, height, width)" in str(err)


def test_build_given_in_features_mismatch_names_both_sizes() -> None:
    spec = {"layers": [{"type": "ReLU"}, {"type": "Linear", "in_features": 10, "out_features": 2}]}
    err = _shape_error(spec, [64])
    assert err.loc == ("layers", 1)
    assert str(err) == ("layer layers.1 got input of shape [64] but expected "
                        "a last dimension (features) of 10 (in_features=10)")


def test_build_error_inside_parallel_branch_has_full_path() -> None:
    branches = [[{"type": "Linear", "out_features": 4}],
                [{"type": "Conv1d", "out_channels": 4, "kernel_size": 1}]]
    spec = {"layers": [{"type": "Linear", "out_features": 8},
                       {"type": "Parallel", "merge": "add", "branches": branches}]}
    err = _shape_error(spec, [3])
    assert (err.path, err.input_shape) == ("layers.1.branches.1.0", (8,))
    assert err.loc == ("layers", 1, "branches", 1, 0)


def test_build_parallel_merge_of_unequal_branches_fails_at_parallel() -> None:
    spec = {"layers": [{"type": "Parallel", "merge": "mul", "branches": [
        [{"type": "Linear", "out_features": 4}], [{"type": "Linear", "out_features": 3}]]}]}
    err = _shape_error(spec, [5])
    assert err.loc == ("layers", 0) and "[4], [3]" in str(err) and "[5]" in str(err)


def test_build_residual_that_changes_shape_fails() -> None:
    spec = {"layers": [{"type": "Residual", "layers": [{"type": "Linear", "out_features": 3}]}]}
    err = _shape_error(spec, [5])
    assert err.loc == ("layers", 0) and "[5]" in str(err) and "[3]" in str(err)


def test_build_kernel_larger_than_input_fails_with_torch_reason() -> None:
    spec = {"layers": [{"type": "Conv2d", "out_channels": 2, "kernel_size": 5}]}
    err = _shape_error(spec, [1, 3, 3])
    assert err.loc == ("layers", 0) and "[1, 3, 3]" in str(err)
    # torch's own sentence, worded differently across releases (2.8: output too small; 2.13: kernel too big).
    assert "Kernel size" in str(err) or "Output size is too small" in str(err)


def test_build_pool_that_empties_the_output_fails() -> None:
    spec = {"layers": [{"type": "Conv1d", "out_channels": 2, "kernel_size": 3},
                       {"type": "MaxPool1d", "kernel_size": 2}]}
    err = _shape_error(spec, [1, 3])
    assert err.path == "layers.1" and err.input_shape == (2, 1)


def test_build_reshape_with_wrong_element_count_fails() -> None:
    err = _shape_error({"layers": [{"type": "Reshape", "shape": [1, 8, 8]}]}, [60])
    assert "64 elements" in str(err) and "has 60" in str(err)


def test_build_permute_with_wrong_rank_fails() -> None:
    err = _shape_error({"layers": [{"type": "Permute", "dims": [1, 0]}]}, [2, 3, 4])
    assert err.loc == ("layers", 0) and "[2, 3, 4]" in str(err)


def test_build_lstm_on_flat_input_asks_for_sequences() -> None:
    err = _shape_error({"layers": [{"type": "LSTM", "hidden_size": 4}]}, [12])
    assert "(sequence length, features)" in str(err)


def test_build_gan_generator_with_wrong_sample_shape_fails() -> None:
    spec = {"latent_dim": 3, "generator": {"layers": [{"type": "Linear", "out_features": 5}]},
            "discriminator": {"layers": [{"type": "Linear", "out_features": 1}]}}
    err = _shape_error(spec, [4])
    assert err.loc == ("generator",) and "[4]" in str(err) and "[5]" in str(err)


def test_build_gan_discriminator_must_give_one_logit() -> None:
    spec = {"latent_dim": 3, "generator": {"layers": [{"type": "Linear", "out_features": 4}]},
            "discriminator": {"layers": [{"type": "Linear", "out_features": 2}]}}
    assert _shape_error(spec, [4]).loc == ("discriminator",)


def test_build_group_norm_with_indivisible_groups_is_a_spec_error() -> None:
    with pytest.raises(SpecError) as info:
        build_model({"layers": [{"type": "GroupNorm", "num_groups": 3}]}, [4, 2])
    assert info.value.loc == ("layers", 0) and "num_channels=4" in str(info.value)


@pytest.mark.parametrize(("spec", "loc"), [
    ({"layers": [{"type": "Linear", "out_features": 2}, {"type": "Lineer"}]}, ("layers", 1, "type")),
    ({"layers": [{"type": 5}]}, ("layers", 0, "type")),
    ({"layers": [{"type": "Linear", "out_feature": 2}]}, ("layers", 0, "out_feature")),
    ({"layers": [{"type": "Linear", "out_features": "2"}]}, ("layers", 0, "out_features")),
    ({"layers": [{"type": "Linear", "out_features": True}]}, ("layers", 0, "out_features")),
    ({"layers": [{"type": "Linear", "out_features": 0}]}, ("layers", 0, "out_features")),
    ({"layers": [{"type": "Linear", "out_features": 10 ** 9}]}, ("layers", 0, "out_features")),
    ({"layers": [{"type": "Linear"}]}, ("layers", 0, "out_features")),
    ({"layers": [{"type": "Conv2d", "out_channels": 2, "kernel_size": [3, -1]}]},
     ("layers", 0, "kernel_size")),
    ({"layers": [{"type": "Conv2d", "out_channels": 2, "kernel_size": [3, 3, 3]}]},
     ("layers", 0, "kernel_size")),
    ({"layers": [{"type": "Dropout", "p": 1.5}]}, ("layers", 0, "p")),
    ({"layers": [{"type": "Dropout", "p": float("nan")}]}, ("layers", 0, "p")),
    ({"layers": [{"type": "ReLU", "inplace": True}]}, ("layers", 0, "inplace")),
    ({"layers": [{"type": "Linear", "out_features": 2, "device": "cuda"}]}, ("layers", 0, "device")),
    ({"layers": [{"type": "LSTM", "hidden_size": 2, "batch_first": False}]}, ("layers", 0, "batch_first")),
    ({"layers": [{"type": "LSTM", "hidden_size": 2, "output": "first"}]}, ("layers", 0, "output")),
    ({"layers": [{"type": "TransformerEncoderLayer", "nhead": 2, "activation": "tanh"}]},
     ("layers", 0, "activation")),
    ({"layers": [{"type": "Reshape", "shape": [-1, -1]}]}, ("layers", 0, "shape")),
    ({"layers": [{"type": "Permute", "dims": [0, 0]}]}, ("layers", 0, "dims")),
    ({"layers": [{"type": "Parallel", "merge": "max", "branches": [[{"type": "ReLU"}]]}]},
     ("layers", 0, "merge")),
    ({"layers": [{"type": "Parallel", "branches": [[{"type": "ReLU"}]]}]}, ("layers", 0, "merge")),
    ({"layers": [{"type": "Parallel", "merge": "add", "branches": [[{"type": "ReLU"}], [
        {"type": "Linear", "out_features": -2}]]}]}, ("layers", 0, "branches", 1, 0, "out_features")),
    ({"layers": [{"type": "Residual", "layers": []}]}, ("layers", 0, "layers")),
    ({"layers": [{"type": "Sequential", "layers": [{"type": "ReLU"}], "extra": 1}]}, ("layers", 0, "extra")),
    ({"layers": []}, ("layers",)),
    ({"layers": ["ReLU"]}, ("layers", 0)),
    ({"layers": [{"type": "ReLU"}], "name": "x"}, ("name",)),
    ({}, ("layers",)),
    ([], ()),
    ({"generator": {"layers": [{"type": "ReLU"}]}, "discriminator": {"layers": [{"type": "ReLU"}]}},
     ("latent_dim",)),
    ({"generator": {"layers": [{"type": "Nope"}]}, "discriminator": {"layers": [{"type": "ReLU"}]},
      "latent_dim": 2}, ("generator", "layers", 0, "type")),
])
def test_validate_spec_reports_exact_loc(spec: Any, loc: tuple[Any, ...]) -> None:
    assert _spec_error(spec).loc == loc


def test_validate_unknown_type_suggests_close_names() -> None:
    assert "'Conv2d'" in str(_spec_error({"layers": [{"type": "Conv2D", "out_channels": 1}]}))


def test_validate_unknown_argument_lists_real_ones() -> None:
    err = _spec_error({"layers": [{"type": "Linear", "out_feature": 2}]})
    assert "out_features" in err.msg and "bias" in err.msg


def test_validate_accepts_every_real_torch_argument() -> None:
    validate_spec({"layers": [
        {"type": "Conv2d", "out_channels": 2, "kernel_size": [3, 1], "stride": 2, "padding": "valid",
         "dilation": 1, "groups": 1, "bias": False, "padding_mode": "reflect"},
        {"type": "BatchNorm2d", "eps": 1e-3, "momentum": None, "affine": False, "track_running_stats": True},
        {"type": "LSTM", "hidden_size": 4, "num_layers": 2, "bias": True, "batch_first": True, "dropout": 0.1,
         "bidirectional": True, "proj_size": 2, "output": "last"},
        {"type": "Embedding", "num_embeddings": 10, "embedding_dim": 3, "padding_idx": 0, "max_norm": 1.0,
         "norm_type": 2, "scale_grad_by_freq": True}]})


def test_validate_deep_nesting_is_refused_without_recursion_error() -> None:
    spec: dict[str, Any] = {"type": "ReLU"}
    for _ in range(5000):
        spec = {"type": "Sequential", "layers": [spec]}
    err = _spec_error({"layers": [spec]})
    assert len(err.loc) == 1 + 2 * MAX_DEPTH + 1 and "nested" in err.msg


def test_validate_too_many_layers_is_refused() -> None:
    err = _spec_error({"layers": [{"type": "ReLU"}] * (MAX_LAYERS + 5)})
    assert err.loc == ("layers", MAX_LAYERS)


def test_build_refuses_bad_input_shape() -> None:
    with pytest.raises(SpecError) as info:
        build_model({"layers": [{"type": "ReLU"}]}, [3, 0])
    assert info.value.loc == ("input_shape",)


def test_build_repeated_layers_reuse_shapes_but_errors_repeat() -> None:
    block = [{"type": "Linear", "out_features": 4}, {"type": "ReLU"}]
    model = build_model({"layers": block * 3}, [4])
    assert [m.in_features for m in model.modules() if isinstance(m, nn.Linear)] == [4, 4, 4]
    bad = {"layers": [{"type": "Conv1d", "out_channels": 2, "kernel_size": 9}]}
    assert _shape_error(bad, [1, 4]).loc == _shape_error(bad, [1, 4]).loc == ("layers", 0)


def test_build_softmax_dim_outside_the_input_fails() -> None:
    err = _shape_error({"layers": [{"type": "Softmax", "dim": 2}]}, [3])
    assert "dim in [-2, 1]" in str(err) and "[3]" in str(err)
