"""The demo job `torchyard up --demo` submits: an MLP on scikit-learn's digits."""

import httpx

DEMO_SPEC = {"layers": [
    {"type": "Linear", "out_features": 64}, {"type": "ReLU"}, {"type": "Dropout", "p": 0.1},
    {"type": "Linear", "out_features": 10},
]}
DEMO_CONFIG = {"epochs": 10, "batch_size": 64, "optimizer": {"type": "Adam", "lr": 0.003}}


def submit_demo(url: str, token: str) -> int:
    """Create the digits dataset and the MLP model, submit the job; returns the job id."""
    with httpx.Client(base_url=f"{url}/api/v1", headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as http:
        dataset = http.post("/datasets/builtin", json={"name": "digits"})
        dataset.raise_for_status()
        model = http.post("/models", json={"name": "digits-mlp", "spec": DEMO_SPEC})
        model.raise_for_status()
        job = http.post("/jobs", json={"name": "demo: digits MLP", "model_id": model.json()["id"],
                                       "dataset_id": dataset.json()["id"], "config": DEMO_CONFIG})
        job.raise_for_status()
        return int(job.json()["id"])
