"""`Client(url, token)`: typed methods over every route of the Torchyard HTTP API (contract v1)."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import httpx

from client.errors import NotTorchyard, Unreachable, error_for
from client.schemas import Checkpoint, Dataset, Job, Model, ModelInfo, Page, Series, User
from client.sse import EventStream
from client.transfer import ProgressFn, ProgressReader, save_response
from client.watch import JobWatch

API_PREFIX = "/api/v1"


def api_base(url: str) -> str:
    """`http://host:8000`, `http://host:8000/` and `http://host:8000/api/v1` all name the same API."""
    base = url.rstrip("/")
    return base if base.endswith(API_PREFIX) else base + API_PREFIX


class Client:
    """A synchronous client. Errors: `Unreachable` when no answer came, `ApiError` subclasses
    (AuthError, NotFound, Conflict, ValidationFailed, ...) carrying the server's `detail`."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 30.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=api_base(url), headers=headers,
                                  timeout=httpx.Timeout(timeout, connect=10.0), transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- plumbing -------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach {self.url}: {exc}") from exc
        _raise_for_status(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:  # e.g. a web page served at that address
            raise NotTorchyard(f"no Torchyard server at {self.url}: {method} {response.url.path} "
                               f"answered {response.status_code} without JSON") from exc

    def _page(self, path: str, limit: int, offset: int, **params: Any) -> Page:
        params = {k: v for k, v in params.items() if v is not None}
        body = self._json("GET", path, params={"limit": limit, "offset": offset, **params})
        return Page(data=body["data"], count=body["count"])

    @contextmanager
    def _stream(self, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        try:
            with self._http.stream("GET", path, **kwargs) as response:
                if response.is_error:
                    response.read()
                    _raise_for_status(response)
                yield response
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach {self.url}: {exc}") from exc

    # -- users ----------------------------------------------------------------------------------
    def health(self) -> dict[str, str]:
        """GET /health without raising on 503: the body names the failing part."""
        try:
            return cast(dict[str, str], self._http.get("/health").json())
        except httpx.TransportError as exc:
            raise Unreachable(f"cannot reach {self.url}: {exc}") from exc
        except ValueError as exc:
            raise NotTorchyard(f"no Torchyard server at {self.url}: "
                               "GET /health answered without JSON") from exc

    def me(self) -> User:
        return cast(User, self._json("GET", "/me"))

    def create_user(self, name: str, *, admin: bool = False) -> User:
        return cast(User, self._json("POST", "/users", json={"name": name, "admin": admin}))

    # -- datasets -------------------------------------------------------------------------------
    def upload_dataset(self, path: Path, *, name: str | None = None, target: str | None = None,
                       on_progress: ProgressFn | None = None) -> Dataset:
        """Upload a .csv/.npz/.zip file, streamed in chunks."""
        fields = {"name": name or path.stem, **({"target": target} if target else {})}
        with ProgressReader(path, on_progress) as reader:
            files = {"file": (reader.name, reader, "application/octet-stream")}
            return cast(Dataset, self._json("POST", "/datasets", data=fields, files=files))

    def builtin_dataset(self, name: str) -> Dataset:
        return cast(Dataset, self._json("POST", "/datasets/builtin", json={"name": name}))

    def list_datasets(self, *, limit: int = 100, offset: int = 0) -> Page:
        return self._page("/datasets", limit, offset)

    def get_dataset(self, dataset_id: int) -> Dataset:
        return cast(Dataset, self._json("GET", f"/datasets/{dataset_id}"))

    def delete_dataset(self, dataset_id: int) -> None:
        self._request("DELETE", f"/datasets/{dataset_id}")

    # -- models ---------------------------------------------------------------------------------
    def create_model(self, name: str, spec: dict[str, Any]) -> Model:
        return cast(Model, self._json("POST", "/models", json={"name": name, "spec": spec}))

    def create_python_model(self, path: Path, *, name: str | None = None) -> Model:
        with path.open("rb") as source:
            files = {"file": (path.name, source, "text/x-python")}
            return cast(Model, self._json("POST", "/models", data={"name": name or path.stem},
                                          files=files))

    def list_models(self, *, limit: int = 100, offset: int = 0) -> Page:
        return self._page("/models", limit, offset)

    def get_model(self, model_id: int) -> Model:
        return cast(Model, self._json("GET", f"/models/{model_id}"))

    def delete_model(self, model_id: int) -> None:
        self._request("DELETE", f"/models/{model_id}")

    # -- jobs -----------------------------------------------------------------------------------
    def submit_job(self, model_id: int, dataset_id: int, config: dict[str, Any] | None = None, *,
                   name: str | None = None) -> Job:
        body: dict[str, Any] = {"model_id": model_id, "dataset_id": dataset_id, "config": config or {}}
        if name:
            body["name"] = name
        return cast(Job, self._json("POST", "/jobs", json=body))

    def list_jobs(self, *, status: str | None = None, limit: int = 100, offset: int = 0) -> Page:
        return self._page("/jobs", limit, offset, status=status)

    def get_job(self, job_id: int) -> Job:
        return cast(Job, self._json("GET", f"/jobs/{job_id}"))

    def job_model(self, job_id: int) -> ModelInfo:
        return cast(ModelInfo, self._json("GET", f"/jobs/{job_id}/model"))

    def cancel_job(self, job_id: int) -> None:
        self._request("POST", f"/jobs/{job_id}/cancel")

    def metric_names(self, job_id: int) -> list[str]:
        return cast(list[str], self._json("GET", f"/jobs/{job_id}/metrics")["names"])

    def metric_series(self, job_id: int, name: str, *, max_points: int | None = None,
                      since_step: int | None = None) -> Series:
        params = {k: v for k, v in {"max_points": max_points, "since_step": since_step}.items()
                  if v is not None}
        return cast(Series, self._json("GET", f"/jobs/{job_id}/metrics/{name}", params=params))

    def logs(self, job_id: int) -> str:
        return self._request("GET", f"/jobs/{job_id}/logs").text

    def checkpoints(self, job_id: int) -> list[Checkpoint]:
        return cast(list[Checkpoint], self._json("GET", f"/jobs/{job_id}/checkpoints")["data"])

    def download_checkpoint(self, job_id: int, step: int, dest: Path, *, fmt: str = "pt",
                            on_progress: ProgressFn | None = None) -> Path:
        """Save checkpoint `step` to `dest`: its weights ("pt", "safetensors") or its model ("torchscript",
        "onnx")."""
        params = {"format": fmt} if fmt != "pt" else {}
        with self._stream(f"/jobs/{job_id}/checkpoints/{step}", params=params) as response:
            return save_response(response, dest, on_progress)

    def download_tensorboard(self, job_id: int, dest: Path,
                             on_progress: ProgressFn | None = None) -> Path:
        with self._stream(f"/jobs/{job_id}/tensorboard") as response:
            return save_response(response, dest, on_progress)

    # -- events ---------------------------------------------------------------------------------
    def events(self, job_ids: int | Sequence[int], *, after: str | None = None,
               reconnect_timeout_s: float = 60.0, idle_check_s: float = 15.0) -> EventStream:
        """Iterate the jobs' events; survives server restarts by reconnecting with Last-Event-ID.
        Ends once every job has finished (a final `status` event is always yielded per job)."""
        ids = [job_ids] if isinstance(job_ids, int) else list(job_ids)
        path = f"/jobs/{ids[0]}/events" if len(ids) == 1 else "/events"
        params = {} if len(ids) == 1 else {"job": ids}
        timeout = httpx.Timeout(30.0, connect=10.0, read=idle_check_s + 5.0)

        def opener(last_id: str | None) -> Any:
            headers = {"Last-Event-ID": last_id} if last_id else {}
            return self._stream(path, params=params, headers=headers, timeout=timeout)

        watch = JobWatch(self.get_job, ids)
        return EventStream(opener, watch.finish, observe=watch.observe, after=after,
                           reconnect_timeout_s=reconnect_timeout_s, idle_check_s=idle_check_s)


def _raise_for_status(response: httpx.Response) -> None:
    if not response.is_error:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        raise error_for(response.status_code, body["detail"])
    if response.status_code == 404:  # a path no Torchyard route answers, e.g. a proxy's page
        raise NotTorchyard(f"no Torchyard server at {response.url.copy_with(query=None)}: it answered 404")
    # A proxy's error page is HTML: keep its first line, not the whole page.
    text = response.text.strip().splitlines()
    raise error_for(response.status_code, text[0][:200] if text else response.reason_phrase)
