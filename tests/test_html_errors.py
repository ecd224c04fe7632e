"""People on pages get pages: a bad query string or an unknown page answers HTML, while the
API keeps answering problem+json."""

from app.accounts.models import Role
from tests.conftest import make_user_token
from tests.studio.helpers import sign_in


def test_a_hand_edited_query_string_on_a_studio_page_gets_a_page(client, engine):
    sign_in(client, engine, Role.editor)
    answer = client.get("/studio/inbox", params={"kind": "bogus"})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    assert "Invalid input" in answer.text and "kind" in answer.text


def test_an_unknown_studio_page_is_an_html_404_and_the_api_stays_json(client, engine):
    user_id = sign_in(client, engine, Role.editor)
    page = client.get("/studio/no-such-page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    api = client.get("/api/v1/no-such-thing")
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/problem+json")
    bearer = {"Authorization": f"Bearer {make_user_token(engine, user_id)}"}
    bad = client.get("/api/v1/issues", params={"limit": "many"}, headers=bearer)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
