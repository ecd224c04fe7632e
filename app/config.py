"""Settings from the environment (prefix DRUMBEAT_); every one is listed in the README."""

import os
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Days after occurred_at a news item stops being topical, per kind (unless it has valid_until).
DEFAULT_STALE_AFTER_DAYS: dict[str, int] = {
    "win": 42,
    "open_work": 90,
    "risk": 90,
    "incident": 14,
    "opportunity": 60,
    "info": 30,
}


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
    # News intake: its own body cap, a per-caller rate limit, and the topicality windows
    # (DRUMBEAT_STALE_AFTER_DAYS='{"incident": 7}' overrides single kinds).
    news_max_body_bytes: int = 65_536
    news_posts_per_minute: int = 120
    stale_after_days: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_STALE_AFTER_DAYS))

    @field_validator("stale_after_days")
    @classmethod
    def _known_kinds_and_positive_days(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(DEFAULT_STALE_AFTER_DAYS))
        if unknown:
            raise ValueError(f"unknown kinds {unknown}; one of {sorted(DEFAULT_STALE_AFTER_DAYS)}")
        if any(not 1 <= days <= 3650 for days in value.values()):
            raise ValueError("stale_after_days are 1 to 3650 days")
        return {**DEFAULT_STALE_AFTER_DAYS, **value}

    # Who the bulletin comes from, and the headers mail clients and spam filters look at.
    mail_from_name: str = "IT department"
    mail_from_address: str = "it-news@example.com"
    mail_reply_to: str | None = None
    organisation: str = "Example Corp IT"
    list_id: str = "it-bulletin.example.com"
    unsubscribe_mailto: str | None = None  # e.g. unsubscribe@example.com, beside the https link
    message_id_domain: str | None = None  # default: the domain of mail_from_address
    dkim_selector: str | None = None
    dkim_private_key_file: Path | None = None
    # Where messages go: maildir://./var/outbox (no mail server needed) or an SMTP relay,
    # e.g. smtp://user:pass@host:587?starttls=true; the pool and rate apply to SMTP.
    mail_url: str = "maildir://./var/outbox"
    smtp_pool_size: int = Field(default=4, ge=1)
    smtp_rate_per_second: float | None = Field(default=None, gt=0)

    # The task queue: unset runs sends inside the app process; a redis:// URL hands them to
    # `drumbeat worker` processes (any number, on any machine sharing the database).
    broker_url: str | None = None
    scheduler_poll_seconds: float = Field(default=15.0, gt=0)
    # Each send is this many queue tasks, so that many `drumbeat worker` processes take part
    # in it (they claim disjoint batches); set it to the number of worker processes.
    send_tasks_per_issue: int = Field(default=1, ge=1, le=64)
    retry_unknown_deliveries: bool = False

    # Reports hide every count below this many recipients or events (k-anonymity), so a
    # small department cannot be singled out; below 5 that protection means little.
    report_min_cell: int = Field(default=10, ge=5, le=1000)
    # Raw engagement events are folded into aggregates and deleted after this many days;
    # the app folds every tracking_fold_interval_seconds (0: only `drumbeat tracking fold`).
    tracking_retention_days: int = Field(default=90, ge=1, le=3650)
    tracking_fold_interval_seconds: float = Field(default=3600.0, ge=0)

    # The time zone the studio and the archive show times in, and read scheduled times in
    # (an IANA name such as Europe/Berlin). Stored times are UTC whatever this says.
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; an IANA name such as Europe/Berlin"
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    # Opens and clicks this soon after the message was sent are a machine's (scanners and
    # privacy proxies fetch on delivery); see docs/engagement.md.
    tracking_machine_seconds: float = Field(default=30.0, ge=0)

    def resolved_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        return _secret_from_file(self.var_dir / "secret_key")


def _secret_from_file(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole to a file of its own, then linked into place: two processes starting
        # together agree on the first key linked, and none reads a file still being written.
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as handle:
            handle.write(secrets.token_urlsafe(48))
        written = Path(handle.name)
        try:
            written.chmod(0o600)
            os.link(written, path)
        except FileExistsError:
            pass
        finally:
            written.unlink()
    key = path.read_text().strip()
    if not key:
        raise ValueError(f"{path} is empty: delete it to make a new secret key")
    return key


@lru_cache
def get_settings() -> Settings:
    return Settings()
