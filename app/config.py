"""Settings from the environment (prefix DRUMBEAT_); every one is listed in the README."""

import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DRUMBEAT_", extra="ignore")

    database_url: str = "sqlite:///./var/drumbeat.db"
    base_url: str = "http://127.0.0.1:8000"
    # Unset means: generate once and keep under var_dir, so restarts keep sessions valid.
    secret_key: str | None = Field(default=None, repr=False)
    var_dir: Path = Path("./var")
    log_level: str = "info"
    # Request bodies: JSON endpoints and the CSV import have separate caps.
    max_body_bytes: int = 1_000_000
    max_import_bytes: int = 50_000_000
    session_max_age_seconds: int = 14 * 24 * 3600
    login_attempts_per_minute: int = 5
    # Outbound webhooks: the background runner, how often it polls, and how it gives up.
    webhooks_enabled: bool = True
    webhook_poll_seconds: float = Field(default=2.0, gt=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    webhook_max_attempts: int = Field(default=6, ge=1)

    def resolved_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        return _secret_from_file(self.var_dir / "secret_key")


def _secret_from_file(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting together must not write two different keys.
    try:
        with path.open("x") as handle:
            handle.write(key)
        path.chmod(0o600)
    except FileExistsError:
        return path.read_text().strip()
    return key


@lru_cache
def get_settings() -> Settings:
    return Settings()
