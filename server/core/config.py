"""One Settings object for every process (api, worker, cli ops), read from TORCHYARD_* variables."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Tokens that must never guard a real deployment.
UNSAFE_TOKENS = {"changeme", "admin", "token", "secret", "password"}


def default_data_dir() -> Path:
    return Path.home() / ".torchyard"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TORCHYARD_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""  # empty: embedded SQLite file under data_dir
    broker_url: str = ""  # empty: embedded broker (no server) under data_dir
    admin_token: str | None = None
    allow_code: bool = True
    max_upload_bytes: int = 512 * 1024 * 1024
    max_parameters: int = 200_000_000

    # Housekeeping: a running job whose heartbeat is older than the lease is presumed dead.
    heartbeat_interval_s: float = 5.0
    lease_timeout_s: float = 30.0
    housekeeping_interval_s: float = 10.0
    requeue_after_s: float = 60.0  # a queued job not claimed for this long gets its message re-sent
    blob_chunk_bytes: int = 4 * 1024 * 1024
    queue: str = "torchyard"  # Celery queue name; tests use their own so parallel runs do not collide

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> "Settings":
        if self.admin_token == "":  # an empty variable (compose's default) means: no bootstrap admin
            self.admin_token = None
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'torchyard.db'}"
        if not self.broker_url:
            self.broker_url = f"sqla+sqlite:///{self.data_dir / 'broker.db'}"
        if self.admin_token is not None and self.admin_token.strip().lower() in UNSAFE_TOKENS:
            raise ValueError("TORCHYARD_ADMIN_TOKEN is a well-known placeholder; set a long random token")
        if self.admin_token is not None and len(self.admin_token) < 16:
            raise ValueError("TORCHYARD_ADMIN_TOKEN must be at least 16 characters")
        if self.max_upload_bytes <= 0:
            raise ValueError("TORCHYARD_MAX_UPLOAD_BYTES must be positive")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def tensorboard_dir(self) -> Path:
        return self.data_dir / "tensorboard"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"


@lru_cache
def get_settings() -> Settings:
    return Settings()
