"""Token-id inputs: a model that starts with Embedding gets its ids unstandardised, an out-of-range id is
one sentence naming it (on CPU; CUDA reports a bad index asynchronously), and a graph trace that fails
never replaces training's own error."""

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from dl.callbacks import TensorBoardCallback
from dl.config import parse_config
from dl.data import ArrayData, from_arrays
from dl.errors import TrainingError
from dl.modules import takes_token_ids
from dl.spec import build_model
from dl.train import train

EMBED_FLAT = [{"type": "Flatten"}, {"type": "Linear", "out_features": 2}]


def _tokens(n: int = 160, high: int = 20) -> ArrayData:
    """Ids 0..high-1 stored as floats (as a CSV holds them); the class is whether the first id is >= 10."""
    x = np.random.default_rng(0).integers(0, high, size=(n, 6)).astype(np.float32)
    return from_arrays(x, (x[:, 0] >= 10).astype(np.int64))


def _embedding_spec(num_embeddings: int = 20) -> dict[str, Any]:
    embed = {"type": "Embedding", "num_embeddings": num_embeddings, "embedding_dim": 4}
    return {"layers": [embed, *EMBED_FLAT]}


def test_train_embedding_inputs_are_not_standardised() -> None:
    torch.manual_seed(0)
    config = parse_config({"epochs": 15, "batch_size": 16, "optimizer": {"type": "Adam", "lr": 0.05},
                           "device": "cpu"})
    result = train(build_model(_embedding_spec(), [6]), _tokens(), config)
    assert result.normalization is None  # so the job's summary carries no normalization
    assert result.metrics["val_accuracy"] >= 0.9


def test_train_float_features_are_still_standardised() -> None:
    model = build_model({"layers": [{"type": "Linear", "out_features": 2}]}, [6])
    result = train(model, _tokens(), parse_config({"epochs": 1}))
    assert result.normalization is not None and len(result.normalization["mean"]) == 6


@pytest.mark.parametrize(("model", "expected"), [
    (build_model({"layers": [{"type": "Sequential", "layers": [
        {"type": "Embedding", "num_embeddings": 5, "embedding_dim": 2}]}, *EMBED_FLAT]}, [6]), True),
    (nn.Sequential(nn.Embedding(5, 2), nn.Flatten(), nn.Linear(12, 2)), True),
    (build_model({"layers": [{"type": "Linear", "out_features": 3}, *EMBED_FLAT]}, [6]), False),
])
def test_takes_token_ids_looks_at_the_first_leaf(model: nn.Module, expected: bool) -> None:
    assert takes_token_ids(model) is expected


def test_train_token_id_above_num_embeddings_names_it(tmp_path: Path) -> None:
    model = build_model(_embedding_spec(num_embeddings=10), [6])
    with pytest.raises(TrainingError, match=r"^Embedding got token id 19 but num_embeddings is 10; raise "
                                            r"num_embeddings above the largest id at step 1$"):
        train(model, _tokens(), parse_config({"epochs": 1, "device": "cpu"}),
              callbacks=TensorBoardCallback(tmp_path))


def test_train_negative_token_id_names_it() -> None:
    data = _tokens()
    data.x[3, 2] = -2.0
    with pytest.raises(TrainingError, match=r"^Embedding got token id -2 but token ids must be 0 or more "
                                            r"\(num_embeddings is 20\)"):
        train(build_model(_embedding_spec(), [6]), data,
              parse_config({"epochs": 1, "val_fraction": 0, "device": "cpu"}))


class _Untraceable(nn.Module):
    """Fails only under the TensorBoard graph trace, with an exception type tracing does not expect."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 2)

    def forward(self, x: Tensor) -> Tensor:
        if torch.jit.is_tracing():
            raise KeyError("no graph for this model")
        return self.linear(x)


def test_tensorboard_graph_failure_skips_the_graph_and_trains(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="dl.callbacks"):
        result = train(_Untraceable(), _tokens(), parse_config({"epochs": 1}),
                       callbacks=TensorBoardCallback(tmp_path))
    assert result.status == "succeeded"
    assert "model graph not drawn in TensorBoard: KeyError" in caplog.text
