"""Analytics in the studio without a browser: the trend and an issue's figures drawn from
real sends and events, small cells hidden in the page and in the CSV, who may look."""

import csv
import io
import re

import pytest

from app.accounts.models import Role
from app.accounts.principal import ROLE_SCOPES
from app.analytics import charts
from app.delivery.models import DeliveryState
from tests.analytics.factories import (
    audience,
    events,
    excerpt_ids,
    link,
    sent_issue,
    set_state,
    votes,
)
from tests.delivery.factories import approved_issue, people, static_segment
from tests.studio.helpers import htmx, sign_in


def bulletin(engine) -> int:
    """97 recipients in three segments; the seven managers are too few to show. 40 people
    open, 20 more only through a privacy proxy, 12 click the first excerpt's link; 20 and
    15 answers on the two excerpts."""
    managers, staff, finance = (
        audience(engine, 7, "m"),
        audience(engine, 50, "s"),
        audience(engine, 40, "f"),
    )
    issue_id = sent_issue(engine, {"Managers": managers, "Staff": staff, "Finance": finance})
    set_state(engine, issue_id, finance[30:], DeliveryState.failed, 550)
    openers = managers[:5] + staff[:20] + finance[:15]
    events(engine, issue_id, openers, "open")
    events(engine, issue_id, staff[20:40], "open", machine=True)
    first, second = excerpt_ids(engine, issue_id)
    guide = link(engine, issue_id, first, "https://intranet.example.com/mail")
    events(engine, issue_id, staff[:12], "click", link_id=guide)
    votes(engine, issue_id, first, useful=15, not_useful=5)
    votes(engine, issue_id, second, useful=12, not_useful=3)
    return issue_id


def row_of(page: str, name: str) -> str:
    return re.search(rf"<tr>\s*<th scope=\"row\">{name}</th>.*?</tr>", page, re.S).group(0)


def test_an_issue_at_a_glance_with_charts_tables_and_small_cells_hidden(client, engine):
    issue_id = bulletin(engine)
    sign_in(client, engine, Role.viewer)

    answer = client.get(f"/studio/issues/{issue_id}/analytics")

    assert answer.status_code == 200, answer.text
    page = answer.text
    assert 'data-testid="fig-audience">97<' in page
    assert 'data-testid="fig-delivered">87<' in page and 'data-testid="fig-bounced">10<' in page
    assert 'data-testid="fig-opens-human">40<' in page and 'data-testid="fig-opens-raw">60<' in page
    assert 'data-testid="fig-open-rate">46.0 %<' in page  # 40 of 87 delivered
    assert 'data-testid="fig-clicks">12<' in page and 'data-testid="fig-cto">30.0 %<' in page
    assert "20 openers seen only through machines" in page
    # Charts are images with a name and a description; their numbers are in tables.
    for chart in ("segment-chart", "excerpt-click-chart", "excerpt-feedback-chart"):
        svg = re.search(rf'<svg [^>]*data-testid="{chart}"', page).group(0)
        assert 'role="img"' in svg and f'aria-labelledby="{chart}-title {chart}-desc"' in svg
    managers = row_of(page, "Managers")
    assert managers.count("fewer than 10") == 8 and not re.search(r">\s*\d", managers)
    assert 'class="hidden-cell">withheld<' in row_of(page, "Finance")
    staff = row_of(page, "Staff")
    assert ">50<" in staff and "80.0 %" in staff  # 40 of 50 opened, machines included
    assert "Opened (human): fewer than 10" in page  # the managers' bar gives way to text
    excerpts = re.search(r'data-testid="excerpt-table".*?</table>', page, re.S).group(0)
    assert "75.0 %" in excerpts and "80.0 %" in excerpts  # 15 of 20, 12 of 15 found it useful
    # Nobody clicked the second excerpt's links: too few to show, and so the first's clicks
    # go too (the issue's total minus them would give the second's away).
    assert excerpts.count(">withheld<") == 2  # clicks human and all
    assert f"/studio/issues/{issue_id}/analytics/segments.csv" in page
    sending = client.get(f"/studio/issues/{issue_id}/sending").text  # also on the issue page
    assert f'href="/studio/issues/{issue_id}/analytics" data-testid="analytics-link"' in sending


def test_the_csv_downloads_are_the_apis_with_hidden_cells_marked(client, engine, api):
    issue_id = bulletin(engine)
    sign_in(client, engine, Role.editor)
    studio = {
        table: client.get(f"/studio/issues/{issue_id}/analytics/{table}.csv")
        for table in ("issue", "segments", "excerpts")
    }
    assert all(a.status_code == 200 for a in studio.values())
    assert studio["segments"].headers["content-type"].startswith("text/csv")
    assert 'filename="issue-1-stats.csv"' in studio["issue"].headers["content-disposition"]
    rows = {r["segment_name"]: r for r in csv.DictReader(io.StringIO(studio["segments"].text))}
    assert rows["Managers"]["audience"] == "fewer than 10"
    assert rows["Managers"]["unique_opens_human"] == "fewer than 10"
    assert rows["Staff"]["unique_opens_raw"] == "40"

    key_client = api("stats:read")
    for table, path in (("issue", ""), ("segments", "/segments"), ("excerpts", "/excerpts")):
        same = key_client.get(f"/api/v1/issues/{issue_id}/stats{path}?format=csv").text
        assert studio[table].text == same, table


def test_the_trend_draws_open_and_click_rates_over_the_last_issues(client, engine, api):
    for number, openers in enumerate((10, 20, 30)):
        people_ = audience(engine, 100, f"t{number}")
        issue_id = sent_issue(engine, {f"All {number}": people_}, title=f"Bulletin {number}")
        events(engine, issue_id, people_[:openers], "open")
        events(engine, issue_id, people_[50:60], "open", machine=True)
    sign_in(client, engine, Role.viewer)

    page = client.get("/studio/analytics?last=2").text

    assert "Bulletin 1" in page and "Bulletin 2" in page and "Bulletin 0" not in page
    chart = re.search(r'<svg [^>]*data-testid="open-chart".*?</svg>', page, re.S).group(0)
    assert 'role="img"' in chart and chart.count("<polyline") == 2  # human and all
    assert "Estimated human, issue #3: 30.0 %" in chart
    assert "All, machines included, issue #3: 40.0 %" in chart
    table = re.search(r'data-testid="trend-table".*?</table>', page, re.S).group(0)
    assert "20.0 %" in table and "30.0 %" in table and "10.0 %" not in table
    assert 'href="/studio/analytics/trend.csv?last=2"' in page

    fragment = client.get("/studio/analytics?last=3", headers=htmx())
    assert "<html" not in fragment.text and "Bulletin 0" in fragment.text
    exported = client.get("/studio/analytics/trend.csv?last=3").text
    assert exported == api("stats:read").get("/api/v1/stats/trend?last=3&format=csv").text


def test_a_hidden_cell_breaks_the_line_instead_of_drawing_a_number(client, engine):
    small = sent_issue(engine, {"Pilot": audience(engine, 6, "p")}, title="Pilot")
    big = audience(engine, 40, "b")
    events(engine, sent_issue(engine, {"All": big}, title="Everyone"), big[:20], "open")
    sign_in(client, engine, Role.viewer)

    page = client.get("/studio/analytics").text

    chart = re.search(r'<svg [^>]*data-testid="open-chart".*?</svg>', page, re.S).group(0)
    assert "issue #1:" not in chart and "issue #2: 50.0 %" in chart
    row = re.search(rf'href="/studio/issues/{small}/analytics".*?</tr>', page, re.S).group(0)
    assert "fewer than 10" in row and not re.search(r">\s*\d", row.split("</td>", 1)[1])


def test_bad_input_and_an_issue_not_sent_get_readable_answers(client, engine):
    sign_in(client, engine, Role.viewer)
    assert "No issue has been sent yet" in client.get("/studio/analytics").text
    for bad in ("last=0", "last=101", "last=ten"):
        answer = client.get(f"/studio/analytics?{bad}")
        assert answer.status_code == 422 and "last" in answer.text, bad
    issue_id = approved_issue(engine, [static_segment(engine, "Later", people(engine, 12))])
    not_sent = client.get(f"/studio/issues/{issue_id}/analytics")
    assert not_sent.status_code == 409 and "has not been sent" in not_sent.text
    assert "<nav" in not_sent.text  # a studio page, with the way back
    assert client.get(f"/studio/issues/{issue_id}/analytics/issue.csv").status_code == 409
    assert client.get("/studio/issues/999/analytics").status_code == 404
    assert client.get(f"/studio/issues/{issue_id}/analytics/other.csv").status_code == 422


def test_the_menu_links_analytics_for_every_role_and_a_role_without_stats_is_refused(
    client, engine, monkeypatch
):
    issue_id = bulletin(engine)
    sign_in(client, engine, Role.viewer)
    assert 'href="/studio/analytics"' in client.get("/studio").text
    # Every studio role reads stats today; a role without the scope must get neither the
    # link nor the page nor the CSV.
    monkeypatch.setitem(ROLE_SCOPES, Role.viewer, ROLE_SCOPES[Role.viewer] - {"stats:read"})
    assert 'href="/studio/analytics"' not in client.get("/studio").text
    for path in (
        "/studio/analytics",
        "/studio/analytics/trend.csv",
        f"/studio/issues/{issue_id}/analytics",
        f"/studio/issues/{issue_id}/analytics/segments.csv",
    ):
        assert client.get(path).status_code == 403, path


def test_chart_axes_take_round_steps_and_a_hidden_value_breaks_the_line():
    assert charts.nice_scale(0.138, percent=True) == pytest.approx((0.15, 0.05))
    assert charts.nice_scale(0.97, percent=True) == pytest.approx((1.0, 0.2))
    assert charts.nice_scale(87, percent=False) == (100, 20)
    chart = charts.line_chart(["#1", "#2", "#3", "#4"], [("human", "human", [0.1, None, 0.3, 0.2])])
    [line] = chart.lines
    assert len(line.segments) == 2 and [p.label for p in line.points] == ["#1", "#3", "#4"]
    assert [round(value, 2) for _, value in chart.gridlines] == [0, 0.1, 0.2, 0.3]
    top = chart.gridlines[-1][0]
    assert [p.y for p in line.points if p.value == 0.3] == [top]  # the largest on the top line
