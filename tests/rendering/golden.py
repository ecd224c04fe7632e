"""The golden set: varied issues built through the services, each with a subscriber to render for.

Every case says what its reader must see (merge fields filled, framings, umlauts) and what
they must not (another segment's framing or filtered excerpt), so the checks in
test_golden.py do not have to trust the renderer's own view of the content.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlmodel import Session

from app.accounts.principal import CLI_PRINCIPAL
from app.config import DEFAULT_STALE_AFTER_DAYS
from app.issues import flash
from app.issues import service as issues
from app.issues.models import Excerpt, ExcerptCreate, Issue, IssueCreate, SectionCreate
from app.news import intake
from app.news.models import NewsItemCreate
from app.segments import service as segments
from app.segments.models import SegmentCreate
from app.subscribers import service as subscribers
from app.subscribers.models import Subscriber, SubscriberCreate

ACTOR = CLI_PRINCIPAL
PLANNED = date(2026, 12, 3)
KINDS = ("win", "open_work", "risk", "incident", "opportunity", "info")
# Written as an attacker would; the markdown layer and nh3 must leave nothing that runs.
HOSTILE_BODY = """\
Totally normal update.<script>alert("body")</script>

<img src="x" onerror="alert('img')">
<a href="javascript:alert('raw')" onclick="alert('click')">raw link</a>
<iframe src="https://evil.example/frame"></iframe><style>body{display:none}</style>

[markdown link](javascript:alert('md')) and [data link](data:text/html;base64,PHNjcmlwdD4=)
and ![pixel](https://tracker.example/p.gif) and <svg onload="alert('svg')"></svg>

Hello {name}, nothing here should run.
"""
MARKDOWN_BODY = """\
### What changes on Monday

1. Sign in with the **new** portal at <https://portal.example.com/start>.
2. Enrol your phone: see [the guide](https://wiki.example.com/mfa/enrol "Enrolment guide").
3. Keep your old token until *Friday*.

- Windows laptops: nothing to do
- Macs: run `sudo profiles renew -type enrollment`
  - nested: reboot afterwards

> Questions? Write to [the service desk](mailto:servicedesk@example.com).

```
$ curl -fsSL https://portal.example.com/api/v2/devices/self/compliance-report?format=json&include=all
{"compliant": true, "checked_at": "2026-11-26T09:30:00Z", "policies": ["disk-encryption"]}
```

| Site | Date | Window |
|------|------|--------|
| München | 1 Dec | 18:00-20:00 |
| Göteborg | 2 Dec | 18:00-20:00 |

~~Old portal~~ is gone. A very long address: https://intranet.example.com/it/announcements/2026/12/the-new-single-sign-on-portal-and-what-it-means-for-you
"""


@dataclass
class GoldenCase:
    name: str
    issue: Issue
    subscriber: Subscriber
    headlines: list[str]
    # Text the reader must find in both parts (merge fields filled), and must not find.
    expected: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)


# An excerpt to write: kind, headline, body and any other ExcerptCreate fields.
Item = tuple[str, str, str] | tuple[str, str, str, dict]


def build_golden_set(session: Session) -> list[GoldenCase]:
    """Twelve issues (fourteen messages) covering what the bulletin must render well."""
    golden = _Golden(session)
    cases = [
        golden.short(),
        golden.long(),
        golden.all_kinds(),
        *golden.framed(),
        *golden.filtered(),
        golden.merge_defaults(),
        golden.merge_values(),
        golden.german(),
        golden.swedish(),
        golden.markdown(),
        golden.hostile(),
        golden.flash(),
    ]
    session.commit()
    return cases


class _Golden:
    """Two segments (management, all staff), six people, and the issues written for them."""

    def __init__(self, session: Session):
        self.session = session
        self.management = self._segment("Top management", "role", "management")
        self.staff = self._segment("All staff", "status", "active")
        self.people = {
            key: subscribers.create(
                session,
                data=SubscriberCreate(email=f"{key}@example.com", name=name, attributes=attributes),
                actor=ACTOR,
            )
            for key, name, attributes in (
                ("alex", "Alex Morgan", {"department": "Service Desk"}),
                ("juergen", "Jürgen Weiß", {"department": "Rechenzentrum Düsseldorf"}),
                ("asa", "Åsa Öberg", {"department": "Ekonomi och lön"}),
                ("priya", "Priya Natarajan", {"department": "Board office", "role": "management"}),
                ("anonymous", "", {}),
                ("eve", 'Eve <img src=x onerror="alert(1)">', {"department": "<b>Red team</b>"}),
            )
        }

    def _segment(self, name: str, field_name: str, value: str) -> int:
        rule = {"all": [{"field": field_name, "op": "eq", "value": value}]}
        data = SegmentCreate(name=name, rule=rule)
        return segments.create(self.session, data=data, actor=ACTOR).id

    def _compose(
        self, title: str, sections: dict[str, list[Item]], *, intro: str = "", both: bool = False
    ) -> tuple[Issue, list[Excerpt]]:
        """An issue for all staff (both: and management) with these sections and excerpts."""
        targets = [self.management, self.staff] if both else [self.staff]
        data = IssueCreate(title=title, planned_date=PLANNED, intro=intro, segment_ids=targets)
        issue = issues.create(self.session, data=data, actor=ACTOR)
        excerpts = []
        for section_title, items in sections.items():
            section = issues.add_section(
                self.session, issue=issue, data=SectionCreate(title=section_title), actor=ACTOR
            )
            for kind, headline, body, *more in items:
                data = ExcerptCreate(
                    section_id=section.id, kind=kind, headline=headline, body=body, **dict(*more)
                )
                excerpts.append(
                    issues.add_excerpt(self.session, issue=issue, data=data, actor=ACTOR)
                )
        return issue, excerpts

    def short(self) -> GoldenCase:
        headline = "Printers in building B work again"
        issue, _ = self._compose(
            "IT bulletin: one good thing",
            {"Wins": [("win", headline, "All twelve printers are back.")]},
        )
        return GoldenCase("short", issue, self.people["alex"], [headline], ["Hello Alex,"])

    def long(self) -> GoldenCase:
        sections = {}
        for index, title in enumerate(("Security", "Workplace", "Network", "Cloud", "Licensing")):
            sections[title] = [
                (
                    KINDS[(index * 3 + number) % len(KINDS)],
                    f"{title} story {number}: what changed this month",
                    f"Story {number} of the {title.lower()} team. We changed what was planned, "
                    "measured the result and tell you what it means for your daily work.",
                    {"cta_label": "Details", "cta_url": f"https://wiki.example.com/{number}"},
                )
                for number in range(1, 4 if index < 3 else 3)
            ]
        issue, excerpts = self._compose(
            "IT bulletin #14: the year-end edition",
            sections,
            intro="A long one before the holidays, {first_name}: thirteen stories in five parts.",
        )
        return GoldenCase(
            "long",
            issue,
            self.people["alex"],
            [e.headline for e in excerpts],
            ["Hello Alex,", "A long one before the holidays, Alex: thirteen stories"],
        )

    def all_kinds(self) -> GoldenCase:
        issue, excerpts = self._compose(
            "IT bulletin #15: one of everything",
            {
                kind.replace("_", " ").capitalize(): [
                    (kind, f"The {kind.replace('_', ' ')} of this fortnight", f"About the {kind}.")
                ]
                for kind in KINDS
            },
        )
        headlines = [e.headline for e in excerpts]
        return GoldenCase("all kinds", issue, self.people["priya"], headlines, ["Hello Priya,"])

    def framed(self) -> list[GoldenCase]:
        headline = "The old VPN client stops working in January"
        default = "Update your laptop by Friday; it takes ten minutes."
        framing = "Audit exposure of 30k EUR if the old client stays; the board decides on Friday."
        issue, [excerpt] = self._compose(
            "IT bulletin #16: the VPN client", {"Risks": [("risk", headline, default)]}, both=True
        )
        issues.put_framing(
            self.session,
            issue=issue,
            excerpt=excerpt,
            segment_id=self.management,
            body=framing,
            actor=ACTOR,
        )
        return [
            GoldenCase(
                "framing for management",
                issue,
                self.people["priya"],
                [headline],
                ["Hello Priya,", framing],
                absent=[default],
            ),
            GoldenCase(
                "framing for staff",
                issue,
                self.people["alex"],
                [headline],
                ["Hello Alex,", default],
                absent=[framing],
            ),
        ]

    def filtered(self) -> list[GoldenCase]:
        shared = "Service desk hours over the holidays"
        board = "Budget 2027: the figures for the board"
        only_management = {"segment_filter": [self.management]}
        issue, _ = self._compose(
            "IT bulletin #17: budgets and the service desk",
            {
                "This month": [
                    ("info", shared, "Open 8-16 on 28-30 December."),
                    ("opportunity", board, "Savings of 120k EUR are possible.", only_management),
                ]
            },
            both=True,
        )
        return [
            GoldenCase("filtered for management", issue, self.people["priya"], [shared, board]),
            GoldenCase("filtered for staff", issue, self.people["alex"], [shared], absent=[board]),
        ]

    def merge_defaults(self) -> GoldenCase:
        headline = "New headsets are in"
        body = "Dear {name|reader}, {department} can pick them up at the service desk."
        issue, _ = self._compose(
            "IT bulletin #18: for everyone",
            {"Workplace": [("win", headline, body)]},
            intro="This one is for {first_name|everyone} in {department|the whole company}.",
        )
        return GoldenCase(
            "merge defaults",
            issue,
            self.people["anonymous"],
            [headline],
            [
                "Hello colleague,",
                "This one is for everyone in the whole company.",
                "Dear reader, your team can pick them up",
            ],
        )

    def merge_values(self) -> GoldenCase:
        headline = "Laptop refresh for your team"
        body = "{name}, the {department|team} refresh starts in week 50."
        issue, _ = self._compose(
            "IT bulletin #19: your team's devices",
            {"Devices": [("open_work", headline, body)]},
            intro="{first_name|colleague}, here is what changes for {department}.",
        )
        return GoldenCase(
            "merge values",
            issue,
            self.people["alex"],
            [headline],
            [
                "Hello Alex,",
                "Alex, here is what changes for Service Desk.",
                "Alex Morgan, the Service Desk refresh starts",
            ],
        )

    def german(self) -> GoldenCase:
        issue, excerpts = self._compose(
            # Long and non-ASCII: the Subject becomes folded encoded words.
            "IT-Neuigkeiten: Größere Änderungen für die Büros in München und Düsseldorf "
            "ab Dezember",
            {
                "Sicherheit": [
                    (
                        "risk",
                        "Längere Passwörter, weniger Ärger",
                        "Ab Montag müssen Passwörter 14 Zeichen lang sein. Grüße, {name}!",
                    )
                ],
                "Arbeitsplätze": [
                    (
                        "win",
                        "Neue Bildschirme für Düsseldorf",
                        "Über 200 Arbeitsplätze erhalten größere Bildschirme; sie sind schon da.",
                    )
                ],
            },
            intro="Liebe Kolleginnen und Kollegen, hier ist die Übersicht für {department}.",
        )
        return GoldenCase(
            "german",
            issue,
            self.people["juergen"],
            [e.headline for e in excerpts],
            [
                "Hello Jürgen,",
                "Übersicht für Rechenzentrum Düsseldorf.",
                "Grüße, Jürgen Weiß!",
                "Über 200 Arbeitsplätze erhalten größere Bildschirme",
            ],
        )

    def swedish(self) -> GoldenCase:
        issue, excerpts = self._compose(
            "Nyheter från IT: årets översyn av nätverket",
            {
                "Nätverk och säkerhet": [
                    (
                        "win",
                        "Snabbare wifi på kontoret i Göteborg",
                        "Åtkomstpunkterna är utbytta; nu över 500 Mbit/s på alla våningar.",
                    ),
                    (
                        "info",
                        "Ändrade öppettider för supporten",
                        "Mellan jul och nyår har supporten öppet 9-15. Tack för tålamodet, {name}.",
                    ),
                ]
            },
            intro="Hej {first_name}! Här är årets sista nyhetsbrev för {department}.",
        )
        return GoldenCase(
            "swedish",
            issue,
            self.people["asa"],
            [e.headline for e in excerpts],
            [
                "Hello Åsa,",
                "Hej Åsa! Här är årets sista nyhetsbrev för Ekonomi och lön.",
                "Tack för tålamodet, Åsa Öberg.",
            ],
        )

    def markdown(self) -> GoldenCase:
        headline = "The new sign-on portal: what to do"
        portal = {"cta_label": "Open the portal", "cta_url": "https://portal.example.com/start"}
        issue, _ = self._compose(
            "IT bulletin #20: single sign-on, step by step",
            {"Identity": [("open_work", headline, MARKDOWN_BODY, portal)]},
        )
        return GoldenCase(
            "markdown",
            issue,
            self.people["alex"],
            [headline],
            ["Hello Alex,", "sudo profiles renew -type enrollment", "Göteborg"],
        )

    def hostile(self) -> GoldenCase:
        headline = '<svg onload="alert(1)"> Headline "quoted" & <i>tagged</i>'
        cta = {
            "cta_label": 'Click "here" <now>',
            "cta_url": 'https://evil.example/"onmouseover="alert(1)',
        }
        issue, _ = self._compose(
            'IT bulletin #21: <script>alert("title")</script> & friends',
            {"<b>Section</b> & co": [("incident", headline, HOSTILE_BODY, cta)]},
            intro="<img src=x onerror=\"alert('intro')\"> Welcome, {first_name}.",
        )
        return GoldenCase(
            "hostile",
            issue,
            self.people["eve"],
            [headline],
            ["Hello Eve,", 'Hello Eve <img src=x onerror="alert(1)">, nothing here should run'],
        )

    def flash(self) -> GoldenCase:
        title = "Email is down in Berlin"
        item, _ = intake.receive(
            self.session,
            data=NewsItemCreate(
                source="monitoring",
                external_id="INC-2026-1126",
                title=title,
                body="Outlook cannot connect since 09:10. **Webmail works**; next update 11:00.",
                link="https://status.example.com/incidents/2026-1126",
                kind="incident",
                theme="email",
                suggested_segments=["All staff"],
                occurred_at=datetime(2026, 11, 26, 9, 10, tzinfo=UTC),
                flash=True,
            ),
            actor=ACTOR,
            stale_after_days=DEFAULT_STALE_AFTER_DAYS,
        )
        issue = flash.flash_issue_for(self.session, news_item_id=item.id)
        assert issue is not None, "a flash incident opens a flash issue"
        return GoldenCase("flash", issue, self.people["alex"], [title], ["Webmail works"])
