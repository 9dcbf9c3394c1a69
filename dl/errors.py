"""Typed errors of the engine. Each carries one sentence a user can act on; the server maps them to HTTP."""

from collections.abc import Sequence


class DLError(Exception):
    """Base class: str(err) is the user-facing sentence."""


class SpecError(DLError):
    """A model spec is malformed. `loc` is the path inside the spec, e.g. ("layers", 3, "out_features")."""

    def __init__(self, loc: Sequence[str | int], msg: str) -> None:
        self.loc = tuple(loc)
        self.msg = msg
        super().__init__(f"{'.'.join(map(str, self.loc)) or 'spec'}: {msg}")


class ShapeError(DLError):
    """A layer cannot take the shape it is given."""

    def __init__(self, path: str, input_shape: Sequence[int], expected: str,
                 loc: Sequence[str | int] = ()) -> None:
        self.path = path
        self.input_shape = tuple(input_shape)
        self.expected = expected
        self.loc = tuple(loc)
        super().__init__(f"layer {path} got input of shape {list(self.input_shape)} but expected {expected}")


class ConfigError(DLError):
    """A job config value is invalid. `loc` is the path inside the config, e.g. ("optimizer", "lr")."""

    def __init__(self, loc: Sequence[str | int], msg: str) -> None:
        self.loc = tuple(loc)
        self.msg = msg
        super().__init__(f"{'.'.join(map(str, self.loc)) or 'config'}: {msg}")


class DataError(DLError):
    """A dataset file cannot be used (names the row, column or file)."""


class TargetError(DataError):
    """The target column asked for cannot apply to the file (not CSV, or not in its header)."""


class TrainingError(DLError):
    """Training stopped for a reason the user can fix (NaN loss at a step, out of memory, ...)."""


_WHERE = "torchyard: failed "


def mark_where(err: BaseException, where: str) -> None:
    """Record where outside a training step an error struck (e.g. "at the end of epoch 2, after step 16")."""
    err.add_note(_WHERE + where)


def where_marked(err: BaseException) -> str | None:
    notes = [n for n in getattr(err, "__notes__", ()) if n.startswith(_WHERE)]
    return notes[-1].removeprefix(_WHERE) if notes else None
