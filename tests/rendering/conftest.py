"""Reuse the composing fixtures (people, segments, newsroom, draft) for rendering tests."""

from tests.issues.conftest import draft, newsroom, people, segments  # noqa: F401
