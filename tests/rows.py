"""Database rows for tests and benchmarks that need a job without going through the API."""

import uuid
from typing import Any

from sqlalchemy.orm import Session

from server.store.models import Dataset, Job, ModelRecord, User


def make_job(session: Session, *, spec: dict[str, Any] | None = None, builtin: str = "iris",
             config: dict[str, Any] | None = None, token_hash: str | None = None, **fields: Any) -> Job:
    """A committed job (queued unless `fields` say otherwise) with its own user, builtin dataset and
    spec model."""
    user = User(name=f"u-{uuid.uuid4().hex[:8]}", token_hash=token_hash or uuid.uuid4().hex)
    session.add(user)
    session.flush()
    dataset = Dataset(owner_id=user.id, name=builtin, format="builtin", builtin_name=builtin,
                      num_samples=0, input_shape=[], target={}, sha256="0" * 64)
    model = ModelRecord(owner_id=user.id, name="m", kind="spec",
                        spec=spec or {"layers": [{"type": "Linear", "out_features": 3}]})
    session.add_all([dataset, model])
    session.flush()
    job = Job(owner_id=user.id, name="j", model_id=model.id, dataset_id=dataset.id, config=config or {},
              **fields)
    session.add(job)
    session.commit()
    return job
