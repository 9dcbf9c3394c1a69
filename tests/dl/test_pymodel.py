"""load_python_model: build_model(input_shape, num_outputs) or class Model, in a fresh namespace."""

from typing import Any

import pytest
import torch

from dl.errors import DLError
from dl.pymodel import load_python_model

BUILD_FN = """
import math
from torch import nn

def build_model(input_shape, num_outputs):
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_outputs))
"""

MODEL_CLASS = """
import torch
from torch import nn

class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(2.0))

    def forward(self, x):
        return x * self.scale
"""


def test_load_build_model_function_uses_shape_and_outputs() -> None:
    model: Any = load_python_model(BUILD_FN, [2, 3], 4)
    assert model[1].in_features == 6 and model[1].out_features == 4
    assert tuple(model(torch.randn(5, 2, 3)).shape) == (5, 4)


def test_load_model_class_built_without_arguments() -> None:
    model = load_python_model(MODEL_CLASS, [3], 1)
    torch.testing.assert_close(model(torch.tensor([[1.0, -2.0, 0.5]])), torch.tensor([[2.0, -4.0, 1.0]]))


def test_load_runs_each_file_in_a_fresh_namespace() -> None:
    counter = "import torch\nCOUNT = globals().get('COUNT', 0) + 1\n" \
              "def build_model(s, n):\n    return torch.nn.Linear(COUNT, 1)\n"
    assert load_python_model(counter, [1], 1).in_features == 1
    assert load_python_model(counter, [1], 1).in_features == 1


@pytest.mark.parametrize(("source", "words"), [
    ("x = 1\n", "must define build_model(input_shape, num_outputs) or a torch.nn.Module subclass"),
    ("class Model:\n    pass\n", "subclass named Model"),
    ("def build_model(s, n):\n    return 42\n", "build_model returned int, not a torch.nn.Module"),
    ("def build_model(s, n):\n    return (\n", "model.py line 2: syntax error"),
    ("import torch\n\n\nraise ValueError('no data')\n",
     "running model.py failed at model.py line 4: ValueError: no data"),
    ("def build_model(s, n):\n    return 1 / 0\n", "at model.py line 2: ZeroDivisionError"),
    ("import sys\nsys.exit(3)\n", "SystemExit"),
    ("import torchyard_nonexistent_module\n", "ModuleNotFoundError"),
])
def test_load_bad_file_raises_one_clear_error(source: str, words: str) -> None:
    with pytest.raises(DLError) as info:
        load_python_model(source, [3], 2)
    assert words in str(info.value)


def test_load_model_class_with_required_arguments_fails_clearly() -> None:
    source = ("from torch import nn\nclass Model(nn.Module):\n"
              "    def __init__(self, width):\n        super().__init__()\n")
    with pytest.raises(DLError, match="Model\\(\\) failed: TypeError"):
        load_python_model(source, [3], 2)


def test_load_returns_a_module_that_trains() -> None:
    model: Any = load_python_model(BUILD_FN, [3], 1)
    assert model[1].weight.grad is None
    loss = model(torch.ones(2, 3)).sum()
    loss.backward()
    assert model[1].weight.grad is not None
