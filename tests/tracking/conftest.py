"""The app is shared by the session's tests: each starts with fresh tracking state."""

import pytest

from app.db import utcnow
from app.tracking.models import PrivacyMode
from app.tracking.recorder import BATCH_SIZE, FLUSH_SECONDS


@pytest.fixture(autouse=True)
def fresh_tracking_state(app):
    def reset():
        recorder = app.state.recorder
        recorder.drain()  # nothing from an earlier test lands in this one's tables
        recorder.mode, recorder.now = PrivacyMode.aggregate, utcnow
        recorder.flush_seconds, recorder.batch_size = FLUSH_SECONDS, BATCH_SIZE
        recorder.forget()
        app.state.renderer.forget_privacy_mode()

    reset()
    yield
    reset()
