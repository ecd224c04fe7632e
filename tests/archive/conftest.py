"""The issue tests' people, segments and newsroom, for the pinned news flash."""

from tests.issues.conftest import newsroom, people, segments  # noqa: F401
