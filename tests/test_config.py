"""Settings that several processes derive from the same var directory."""

import multiprocessing
import stat

import pytest

from app.config import Settings


def _key_of(var_dir: str, start, keys) -> None:
    start.wait()
    keys.put(Settings(var_dir=var_dir, secret_key="").resolved_secret_key())


def test_processes_starting_together_share_one_complete_secret_key(tmp_path):
    # Four app processes on a fresh var directory (make scale-out): one key for all, or the
    # links one signs the others refuse.
    context = multiprocessing.get_context("spawn")
    start, keys = context.Barrier(6), context.Queue()
    processes = [
        context.Process(target=_key_of, args=(str(tmp_path), start, keys)) for _ in range(6)
    ]
    for process in processes:
        process.start()
    found = [keys.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert len(set(found)) == 1 and len(found[0]) >= 64
    key_file = tmp_path / "secret_key"
    assert key_file.read_text() == found[0]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no temporary file left


def test_an_empty_key_file_is_refused_with_what_to_do(tmp_path):
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(ValueError, match="delete it to make a new secret key"):
        Settings(var_dir=tmp_path, secret_key="").resolved_secret_key()


def test_an_unknown_time_zone_is_refused_with_an_example(tmp_path):
    with pytest.raises(ValueError, match=r"unknown time zone 'Europe/Berln'.*Europe/Berlin"):
        Settings(var_dir=tmp_path, timezone="Europe/Berln")
    assert Settings(var_dir=tmp_path, timezone="America/New_York").zone.key == "America/New_York"
