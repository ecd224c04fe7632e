"""Filling in the public feedback form as a browser would: fetch it, then post it."""

import re

import pytest

VALID_IDEA = {
    "kind": "idea",
    "problem": "Password resets take three days through the ticket queue",
    "affected": "Everyone who forgets a password",
    "benefit": "People get back to work within minutes instead of days",
    "message": "",
    "name": "",
    "email": "",
}


@pytest.fixture
def send_form(client):
    """Post the form with a fresh token from its page; returns the response."""

    def send(fields: dict, **kwargs):
        page = client.get("/feedback")
        token = re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)
        return client.post("/feedback", data={"form_token": token, **fields}, **kwargs)

    return send
