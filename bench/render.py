"""Figures: a 12-excerpt variant compiles in at most 50 ms; 5,000 messages/s on one core.

    .venv/bin/python -m bench.render [--runs 30] [--messages 20000] [--rounds 5]
                                     [--excerpts 12] [--dkim-messages 200] [--quiet-load 0.6]

A realistic bulletin is written into a fresh, migrated SQLite file through the issue
service: 12 excerpts in 4 sections, bodies of a few paragraphs with links, lists and merge
fields, framings for the "Budget holders" segment, and 20,000 distinct subscribers. Then:

1. Compile: `app.rendering.compile.compile_variant` (jinja -> MJML -> HTML -> premailer ->
   slot templates) for the variant "All staff + Budget holders", called directly so the
   Renderer's cache is bypassed; `--runs` timed runs after a few unmeasured ones, median and
   p95 (the verdict is on p95). The same number of runs again, broken down by stage: the
   functions compile_variant calls are wrapped with timers, so the stages are those of the
   real function. For context: the process's first compile, compiles with premailer's CSS
   cache emptied before each, `Renderer.compiled` with its cache emptied (adds the content
   queries and the variant's signed links), and the baseline mjml2html alone on the same
   MJML source.
2. Personalize: per recipient `Renderer.values_for` (merge fields and two signed tokens) and
   `MessageFactory.build` (ready-to-send MIME bytes), for distinct subscribers, in one
   thread; messages per second by wall clock and by process CPU time, median of `--rounds`.
   Three messages are parsed back and checked outside the clock. Baseline: the same message
   built per recipient with the stdlib `email` package. DKIM is off unless configured; a
   signed run (fresh 2048-bit key from openssl) is reported for information.
"""

import argparse
import email
import email.policy
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import premailer
import premailer.cache as premailer_cache
from mjml import mjml2html
from sqlalchemy import insert, select
from sqlmodel import Session

from app.accounts.principal import CLI_PRINCIPAL
from app.config import Settings
from app.db import make_engine, unit_of_work, utcnow
from app.issues import service as issues
from app.issues.models import ExcerptCreate, Issue, IssueCreate, SectionCreate
from app.rendering import compile as compile_module
from app.rendering.compile import CompiledVariant, compile_variant
from app.rendering.content import build_view
from app.rendering.links import variant_links
from app.rendering.message import Recipient
from app.rendering.service import Renderer
from app.segments import service as segments
from app.segments.models import SegmentCreate
from app.segments.rules import Rule
from app.subscribers.models import Subscriber
from app.tracking.tokens import Purpose, TokenSigner
from bench.harness import fresh_sqlite, median, people, percentile, print_machine, print_table

COMPILE_TARGET_MS = 50.0
THROUGHPUT_TARGET = 5_000  # messages per second, one core
MESSAGE_SIZE_GOAL = 50_000  # bytes, the size the throughput target names
WARMUP_RUNS = 3
BASE_URL = "https://drumbeat.example.com"
SECRET_KEY = "bench-render-secret-key-not-for-production-0123456789"  # noqa: S105

SEGMENTS = {
    "All staff": {"all": [{"field": "status", "op": "eq", "value": "active"}]},
    "Budget holders": {"all": [{"field": "budget_holder", "op": "eq", "value": "yes"}]},
}
FRAMED_SEGMENT = "Budget holders"
SECTIONS = [
    ("Security", "security"),
    ("Licences and costs", "licensing"),
    ("Service desk", "service desk"),
    ("Projects and changes", "projects"),
]
INTRO = (
    "Good morning {first_name}, this is the December bulletin: what IT did in November, what "
    "changes for **{department|your team}** and what we need from you before the holidays.\n\n"
    "As always, [the service status page](https://status.example.com) has the live picture; "
    "reply to this mail if something here is unclear."
)


def _excerpt(section, kind, headline, lead, items, closing, cta=("", ""), framing=None):
    """A body as editors write them: a lead, a list with links, a closing line."""
    bullets = "\n".join(f"- {item}" for item in items)
    return {
        "section": section,
        "kind": kind,
        "headline": headline,
        "body": f"{lead}\n\nWhat this means for you:\n\n{bullets}\n\n{closing}",
        "cta_label": cta[0],
        "cta_url": cta[1],
        "framing": framing,
    }


EXCERPTS = [
    _excerpt(
        0,
        "risk",
        "Old VPN client loses support in January",
        "About **400 laptops** still run the old VPN client. From **15 January** it can no "
        "longer connect, and remote work stops for whoever has not updated. The update takes "
        "ten minutes and one restart; the [software centre](https://it.example.com/software) "
        "offers it to everyone affected.",
        [
            "Check the version under *Help > About*: 5.x is fine, 4.x needs the update",
            "Install it from the [software centre](https://it.example.com/software/vpn)",
            "Travelling in January? Update **before** you leave the office network",
        ],
        "Questions go to the service desk, {first_name}; we call the last 50 laptops by name.",
        ("Update the VPN client", "https://it.example.com/software/vpn"),
        framing="Budget holders: about **400 laptops** across the departments still run the "
        "old VPN client. Missing the **15 January** deadline would stop remote work for their "
        "users; the update itself costs nothing.\n\n- The [list per department]"
        "(https://it.example.com/reports/vpn) shows who is left\n- Please remind your teams "
        "this week\n\nThank you, {first_name|colleague}.",
    ),
    _excerpt(
        0,
        "win",
        "Phishing reports doubled after the autumn training",
        "In November colleagues reported **1,240 suspicious mails**, twice as many as in "
        "October, and the average time to the first report fell to **four minutes**. Two "
        "real attacks were stopped before anyone entered a password.",
        [
            "Keep using the *Report phishing* button in Outlook",
            "Read the [five signs of a phishing mail](https://it.example.com/security/phishing)",
            "Never approve a sign-in request you did not start",
        ],
        "Thank you to everyone in {department|your team} who reported one.",
    ),
    _excerpt(
        0,
        "info",
        "Passwords give way to passkeys on company phones",
        "From January, company phones can sign in to Microsoft 365 with a **passkey**: the "
        "phone unlocks with your face or fingerprint, and there is no password to steal. "
        "Passwords keep working during the transition.",
        [
            "Set up a passkey in [My Sign-ins](https://mysignins.example.com/security-info)",
            "A [step-by-step guide](https://it.example.com/guides/passkeys) with screenshots",
            "Lost phone? Call the service desk at **+49 30 1234 5678** around the clock",
        ],
        "Key users in each department get a short walkthrough on 9 December.",
        ("Set up a passkey", "https://mysignins.example.com/security-info"),
    ),
    _excerpt(
        1,
        "win",
        "Vendor audit closed without findings",
        "The yearly audit of our database licences closed with **no back payment**. The "
        "last one cost 180,000 EUR; this time the licence team had every installation "
        "documented in the asset database before the auditors asked.",
        [
            "Nothing to do for most of you",
            "Teams that install database software themselves: register it in the "
            "[asset database](https://cmdb.example.com/register)",
            "The [licence rules](https://it.example.com/licensing/rules) explain what counts",
        ],
        "A short report is on the [licensing page](https://it.example.com/licensing).",
        framing="For budget holders: the audit closed with **no back payment** (last time "
        "180,000 EUR). The documentation effort paid for itself several times over.\n\n"
        "- Next year's true-up is due in **March**\n- The [cost report]"
        "(https://it.example.com/reports/licences) lists your department's share\n\n"
        "Questions: the licence team, any time.",
    ),
    _excerpt(
        1,
        "open_work",
        "Backlog of licence requests",
        "**63 licence requests** have waited longer than five days. Two people from the "
        "service desk help the licence team until the queue is under 20, which we expect "
        "by mid-December.",
        [
            "Urgent? Say why in the request and we move it up",
            "Check the [status of your request](https://itsm.example.com/my-requests)",
            "Standard software needs no request: use the "
            "[software centre](https://it.example.com/software)",
        ],
        "Sorry for the wait, {first_name}; the next bulletin reports the queue again.",
        ("See your requests", "https://itsm.example.com/my-requests"),
        framing="**63 requests** wait longer than five days, some of them for approvals. "
        "Please approve or decline the requests in your queue.\n\n- Your "
        "[approval queue](https://itsm.example.com/approvals)\n- Requests older than 14 days "
        "are escalated automatically\n\nThanks, {first_name|colleague}.",
    ),
    _excerpt(
        1,
        "opportunity",
        "Unused licences go back to the pool",
        "Licences unused for **90 days** now return to the shared pool automatically. In the "
        "pilot this freed **310 licences** worth about 41,000 EUR a year, which departments "
        "can draw on without a new purchase.",
        [
            "You get a reminder mail two weeks before a licence is returned",
            "Need it back? One click in the [software centre](https://it.example.com/software)",
            "The [pool figures](https://it.example.com/licensing/pool) are public",
        ],
        "Ideas for other pools are welcome on the feedback form.",
        framing="Budget holders: returning licences unused for **90 days** saved about "
        "**41,000 EUR a year** in the pilot.\n\n- Your department's "
        "[savings](https://it.example.com/reports/licence-pool)\n- Purchases are checked "
        "against the pool first from January\n\nNo action needed from you.",
    ),
    _excerpt(
        2,
        "win",
        "Password resets now take three clicks",
        "The new self-service portal went live on 18 November. Resets that used to need a "
        "call now take **three clicks** and about a minute; the service desk answered 900 "
        "fewer calls in the first week.",
        [
            "Open the [self-service portal](https://self.example.com)",
            "Register a second factor first, if you have not yet",
            "The old form redirects to the portal until the end of January",
        ],
        "Tell us what else you would like to do yourself.",
        ("Open the portal", "https://self.example.com"),
    ),
    _excerpt(
        2,
        "incident",
        "Wi-Fi outage in Hamburg, floor 2",
        "On 20 November the access points on floor 2 in Hamburg failed for **three hours** "
        "after a faulty firmware update. Wired ports kept working. The vendor has withdrawn "
        "the firmware and we roll out updates floor by floor from now on.",
        [
            "No action needed; the network is stable again",
            "Read the [incident report](https://status.example.com/incidents/2044)",
            "Report slow Wi-Fi with the [network form](https://itsm.example.com/network)",
        ],
        "We apologise to everyone in Hamburg for the interruption.",
    ),
    _excerpt(
        2,
        "info",
        "Service desk hours over the holidays",
        "Between **24 December and 1 January** the service desk answers the phone from 9:00 "
        "to 15:00; outside these hours the on-call team handles outages only.",
        [
            "Chat and tickets stay open; answers may take longer",
            "Outages: call **+49 30 1234 5678** at any time",
            "The [holiday plan](https://it.example.com/holidays) lists who is on call",
        ],
        "Happy holidays from all of us, {first_name}.",
    ),
    _excerpt(
        3,
        "open_work",
        "Windows 11 migration: two thirds done",
        "**4,100 of 6,200** computers now run Windows 11. The rest follow by the end of "
        "February, department by department; you get a mail a week before it is your turn.",
        [
            "Save your files to OneDrive before the date in the mail",
            "The upgrade runs overnight; leave the computer on and plugged in",
            "See the [migration calendar](https://it.example.com/windows11/calendar)",
        ],
        "{department|Your department} is in the calendar with its week.",
        ("See the calendar", "https://it.example.com/windows11/calendar"),
    ),
    _excerpt(
        3,
        "opportunity",
        "Room booking in Teams: pilot users wanted",
        "Key users can pilot booking meeting rooms from Teams before everyone gets it in "
        "spring. The pilot starts on **8 January** in Berlin and Munich.",
        [
            "Sign up on the [pilot page](https://it.example.com/pilots/rooms)",
            "Pilot users get a one-hour introduction",
            "Feedback goes straight to the project team",
        ],
        "We need about 40 pilot users; first come, first served.",
        ("Join the pilot", "https://it.example.com/pilots/rooms"),
    ),
    _excerpt(
        3,
        "info",
        "Printer driver rollout reaches all sites",
        "The new printer driver package is on **every site** now. Printing from laptops on "
        "guest Wi-Fi is no longer possible, by design: use the office network or VPN.",
        [
            "Cannot print? Restart once; the driver installs at sign-in",
            "The [printer guide](https://it.example.com/guides/printing) covers scanning too",
            "Report broken printers with the [printer form](https://itsm.example.com/printers)",
        ],
        "Thanks for bearing with the rollout.",
    ),
]


def write_issue(session: Session, segment_ids: dict[str, int], excerpts: int) -> Issue:
    """The bulletin, through the issue service as editors make it."""
    issue = issues.create(
        session,
        data=IssueCreate(
            title="IT bulletin December 2026: passkeys, licences and the holidays",
            planned_date=date(2026, 12, 3),
            intro=INTRO,
            segment_ids=sorted(segment_ids.values()),
        ),
        actor=CLI_PRINCIPAL,
    )
    sections = [
        issues.add_section(
            session, issue=issue, data=SectionCreate(title=title, theme=theme), actor=CLI_PRINCIPAL
        )
        for title, theme in SECTIONS
    ]
    for spec in EXCERPTS[:excerpts]:
        excerpt = issues.add_excerpt(
            session,
            issue=issue,
            data=ExcerptCreate(
                section_id=sections[spec["section"]].id,
                kind=spec["kind"],
                headline=spec["headline"],
                body=spec["body"],
                cta_label=spec["cta_label"] or None,
                cta_url=spec["cta_url"] or None,
            ),
            actor=CLI_PRINCIPAL,
        )
        if spec["framing"]:
            issues.put_framing(
                session,
                issue=issue,
                excerpt=excerpt,
                segment_id=segment_ids[FRAMED_SEGMENT],
                body=spec["framing"],
                actor=CLI_PRINCIPAL,
            )
    return issue


def load(url: str, recipients: int, excerpts: int) -> tuple[int, tuple[int, ...]]:
    """Subscribers, the two target segments and the issue; returns the issue and variant."""
    engine = make_engine(url)
    now = utcnow()
    rows = [
        {
            "email": p.email,
            "name": p.name,
            "attributes": p.attributes,
            "status": "active",
            "created_at": now,
            "updated_at": now,
        }
        for p in people(recipients)
    ]
    with unit_of_work(engine) as session:
        session.execute(insert(Subscriber), rows)
        segment_ids = {
            name: segments.create(
                session,
                data=SegmentCreate(name=name, rule=Rule.model_validate(rule)),
                actor=CLI_PRINCIPAL,
            ).id
            for name, rule in SEGMENTS.items()
        }
        issue_id = write_issue(session, segment_ids, excerpts).id
    engine.dispose()
    return issue_id, tuple(sorted(segment_ids.values()))


def settings_for(dkim: tuple[str, Path] | None = None) -> Settings:
    return Settings(
        base_url=BASE_URL,
        secret_key=SECRET_KEY,
        mail_from_name="IT department",
        mail_from_address="it-news@example.com",
        mail_reply_to=None,
        organisation="Example Corp IT",
        list_id="it-bulletin.example.com",
        unsubscribe_mailto=None,
        message_id_domain=None,
        dkim_selector=dkim[0] if dkim else None,
        dkim_private_key_file=dkim[1] if dkim else None,
    )


# --- compile -------------------------------------------------------------------------------

SLOTS_STAGE = "slot split + quoted-printable pre-encoding"
OTHER_STAGE = "rest (context, preview text, timing wrappers)"
TOTAL = "total of these runs"


def time_ms(
    runs: int, measure: Callable[[], object], before: Callable[[], object] = lambda: None
) -> list[float]:
    """Milliseconds of `runs` calls (each after `before`, unmeasured), after a few warm-ups."""
    for _ in range(WARMUP_RUNS):
        before()
        measure()
    samples = []
    for _ in range(runs):
        before()
        started = time.perf_counter()
        measure()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


class StageClock:
    """Wraps what compile_variant calls, so each call's time splits into its stages."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.mjml_source = ""

    def add(self, stage: str, started: float) -> None:
        self.spent[stage] = self.spent.get(stage, 0.0) + time.perf_counter() - started

    def timed(self, stage: str, function: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(stage, started)

        return wrapper

    def _jinja(self, env, stage: str) -> SimpleNamespace:
        def get_template(name: str) -> SimpleNamespace:
            started = time.perf_counter()
            template = env.get_template(name)
            self.add(stage, started)
            return SimpleNamespace(render=self.timed(stage, template.render))

        return SimpleNamespace(get_template=get_template)

    def _mjml(self, source: str, **options) -> object:
        self.mjml_source = source
        return self.timed("mjml2html (MJML -> HTML)", mjml2html)(source, **options)

    def _premailer(self, *args, **kwargs) -> SimpleNamespace:
        started = time.perf_counter()
        inliner = premailer.Premailer(*args, **kwargs)
        self.add("premailer (CSS inlining)", started)
        return SimpleNamespace(transform=self.timed("premailer (CSS inlining)", inliner.transform))

    @contextmanager
    def installed(self) -> Iterator[None]:
        replacements = {
            "_html_env": self._jinja(compile_module._html_env, "jinja render (MJML source)"),
            "_text_env": self._jinja(compile_module._text_env, "jinja render (plain text)"),
            "mjml2html": self._mjml,
            "premailer": SimpleNamespace(Premailer=self._premailer),
            "SlotTemplate": self.timed(SLOTS_STAGE, compile_module.SlotTemplate),
            "QuotedPrintableTemplate": self.timed(
                SLOTS_STAGE, compile_module.QuotedPrintableTemplate
            ),
        }
        with ExitStack() as stack:
            for name, replacement in replacements.items():
                stack.enter_context(mock.patch.object(compile_module, name, replacement))
            yield


@dataclass
class CompileFigures:
    compiled: CompiledVariant
    first_ms: float
    warm_ms: list[float]
    cold_ms: list[float]
    stages_ms: dict[str, list[float]]
    mjml_alone_ms: list[float]
    renderer_ms: list[float]
    mjml_source_bytes: int


def measure_compile(
    session: Session, renderer: Renderer, issue: Issue, variant: tuple[int, ...], runs: int
) -> CompileFigures:
    view = build_view(session, issue=issue, segment_ids=variant)
    links = variant_links(renderer.signer, base_url=BASE_URL, view=view, segment_ids=variant)

    def compile_once() -> CompiledVariant:
        return compile_variant(view, sender=renderer.sender, links=links)

    started = time.perf_counter()
    compile_once()  # the process's first: templates to load, caches empty
    first_ms = (time.perf_counter() - started) * 1000
    warm_ms = time_ms(runs, compile_once)
    # premailer keeps parsed CSS in a process-wide cache (cachetools, 128 entries).
    cold_ms = time_ms(runs, compile_once, before=premailer_cache.cache.clear)

    clock = StageClock()
    stages_ms: dict[str, list[float]] = {}
    with clock.installed():
        for run in range(WARMUP_RUNS + runs):
            clock.spent = {}
            started = time.perf_counter()
            compile_once()
            total = time.perf_counter() - started
            if run < WARMUP_RUNS:
                continue
            rest = total - sum(clock.spent.values())
            for stage, seconds in [*clock.spent.items(), (OTHER_STAGE, rest), (TOTAL, total)]:
                stages_ms.setdefault(stage, []).append(seconds * 1000)

    source = clock.mjml_source
    mjml_alone_ms = time_ms(runs, lambda: mjml2html(source, disable_comments=True, fonts={}))

    def through_renderer() -> CompiledVariant:
        return renderer.compiled(session, issue=issue, segment_ids=variant)

    renderer_ms = time_ms(runs, through_renderer, before=renderer._cache.clear)
    return CompileFigures(
        # What sends use: the renderer's variant, links tracked as the privacy mode says.
        compiled=through_renderer(),
        first_ms=first_ms,
        warm_ms=warm_ms,
        cold_ms=cold_ms,
        stages_ms=stages_ms,
        mjml_alone_ms=mjml_alone_ms,
        renderer_ms=renderer_ms,
        mjml_source_bytes=len(source.encode()),
    )


# --- personalize ----------------------------------------------------------------------------


def recipient_of(subscriber: Subscriber) -> Recipient:
    return Recipient(subscriber_id=subscriber.id, email=subscriber.email, name=subscriber.name)


def clocked(work: Callable[[], object]) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


@dataclass
class Throughput:
    """Messages per second over several rounds, by wall clock and by process CPU time."""

    count: int
    rounds: list[tuple[float, float]]

    @property
    def wall_rate(self) -> float:
        return median([self.count / wall for wall, _ in self.rounds])

    @property
    def cpu_rate(self) -> float:
        return median([self.count / cpu for _, cpu in self.rounds if cpu])


def measure_personalize(
    renderer: Renderer,
    compiled: CompiledVariant,
    issue_id: int,
    subscribers: list[Subscriber],
    rounds: int,
) -> dict[str, Throughput]:
    """The send loop for one variant, and its two halves measured apart."""
    factory = renderer.factory(compiled, issue_id=issue_id)
    values_for, build = renderer.values_for, factory.build

    def personalize() -> None:
        for subscriber in subscribers:
            values = values_for(compiled, issue_id=issue_id, subscriber=subscriber)
            build(recipient_of(subscriber), values)

    def values_only() -> None:
        for subscriber in subscribers:
            values_for(compiled, issue_id=issue_id, subscriber=subscriber)

    prepared = [
        (recipient_of(s), values_for(compiled, issue_id=issue_id, subscriber=s))
        for s in subscribers
    ]

    def build_only() -> None:
        for recipient, values in prepared:
            build(recipient, values)

    for recipient, values in prepared[:1000]:  # warm-up
        build(recipient, values)
    work = {"full": personalize, "values_for": values_only, "build": build_only}
    return {
        name: Throughput(len(subscribers), [clocked(job) for _ in range(rounds)])
        for name, job in work.items()
    }


def sent_values(renderer: Renderer, compiled: CompiledVariant, issue_id: int, subscriber):
    """Every slot of the message as sent: the send path adds the recipient's tracking
    slots (reader token, pixel) to what values_for gives."""
    values = renderer.values_for(compiled, issue_id=issue_id, subscriber=subscriber)
    factory = renderer.factory(compiled, issue_id=issue_id)
    if factory.tracking_values is not None:
        values = {**values, **factory.tracking_values(subscriber.id)}
    return values


def stdlib_message(
    renderer: Renderer,
    compiled: CompiledVariant,
    issue_id: int,
    subscriber: Subscriber,
    sent: datetime,
) -> bytes:
    """The same message built per recipient the usual way, with the stdlib email package."""
    values = sent_values(renderer, compiled, issue_id, subscriber)
    identity = renderer.identity
    message = EmailMessage(policy=email.policy.SMTP)
    message["To"] = formataddr((subscriber.name, subscriber.email))
    message["Message-ID"] = f"<drumbeat.{issue_id}.{subscriber.id}@{identity.message_id_domain}>"
    message["List-Unsubscribe"] = f"<{values['unsubscribe_url']}>"
    message["From"] = formataddr((identity.from_name, identity.from_address))
    message["Subject"] = compiled.subject
    message["Date"] = format_datetime(sent)
    message["List-Id"] = f"{identity.list_name} <{identity.list_id}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Precedence"] = "bulk"
    message.set_content(compiled.text_qp.source.fill(values), cte="quoted-printable")
    message.add_alternative(
        compiled.html_qp.source.fill(values), subtype="html", cte="quoted-printable"
    )
    return message.as_bytes()


def check_message(
    raw: bytes, renderer: Renderer, compiled: CompiledVariant, issue_id: int, subscriber
) -> None:
    """Outside the clock: the bytes parse, name this recipient and carry the filled bodies."""
    values = sent_values(renderer, compiled, issue_id, subscriber)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    text, html = (part.get_content() for part in parsed.iter_parts())
    token = values["unsubscribe_url"].rsplit("/", 1)[-1]

    def same(a: str, b: str) -> bool:
        return a.replace("\r\n", "\n") == b.replace("\r\n", "\n")

    problems = {
        "To": subscriber.email not in str(parsed["To"]),
        "Message-ID": f".{subscriber.id}@" not in str(parsed["Message-ID"]),
        "token": renderer.signer.read(Purpose.unsubscribe, token) != (subscriber.id, issue_id),
        "text": not same(text, compiled.text_qp.source.fill(values)),
        "html": not same(html, compiled.html_qp.source.fill(values)),
        "slots left": "__DBSLOT_" in text + html,
    }
    wrong = [name for name, bad in problems.items() if bad]
    if wrong:
        raise SystemExit(f"message for subscriber {subscriber.id} is wrong: {wrong}")


@contextmanager
def dkim_key() -> Iterator[tuple[str, Path] | None]:
    """A fresh 2048-bit RSA key from openssl, or None when openssl is missing."""
    openssl = shutil.which("openssl")
    if openssl is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="drumbeat-bench-dkim-") as directory:
        path = Path(directory) / "dkim.pem"
        subprocess.run(  # noqa: S603
            [openssl, "genrsa", "-out", str(path), "2048"], check=True, capture_output=True
        )
        yield "bench", path


# --- report ---------------------------------------------------------------------------------


def code_state() -> str:
    """The commit, and uncommitted changes in app/ or emails/ (the templates are code too)."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    run = {"cwd": Path(__file__).resolve().parents[1], "capture_output": True, "text": True}
    commit = subprocess.run([git, "rev-parse", "--short", "HEAD"], **run).stdout.strip()  # noqa: S603
    status = subprocess.run([git, "status", "--porcelain", "app", "emails"], **run).stdout  # noqa: S603
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    return f"{commit} + uncommitted changes in {', '.join(changed)}" if changed else commit


def load_average() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def wait_for_quiet(limit: float | None, patience: float) -> None:
    """Wait (at most `patience` seconds) for the one-minute load average to fall to `limit`."""
    if limit is None:
        return
    deadline = time.monotonic() + patience
    while os.getloadavg()[0] > limit and time.monotonic() < deadline:
        time.sleep(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="timed compiles of each kind")
    parser.add_argument("--excerpts", type=int, default=len(EXCERPTS), help="1 to 12")
    parser.add_argument("--messages", type=int, default=20_000, help="distinct recipients")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the recipients")
    parser.add_argument("--stdlib-messages", type=int, default=1_000)
    parser.add_argument("--dkim-messages", type=int, default=200, help="0: no DKIM run")
    parser.add_argument("--quiet-load", type=float, help="first wait for this load average")
    parser.add_argument("--patience", type=float, default=900, help="seconds to wait for it")
    args = parser.parse_args()

    imported = code_state()  # the Python modules are loaded; templates load on first use
    wait_for_quiet(args.quiet_load, args.patience)
    print_machine()
    measured = code_state()
    loads = [("start", load_average())]
    renderer = Renderer(settings_for(), TokenSigner(SECRET_KEY))
    with fresh_sqlite() as url:
        issue_id, variant = load(url, args.messages, args.excerpts)
        engine = make_engine(url)
        with Session(engine) as session:
            issue = issues.get(session, issue_id=issue_id)
            figures = measure_compile(session, renderer, issue, variant, args.runs)
            subscribers = list(session.scalars(select(Subscriber).order_by(Subscriber.id)))
        engine.dispose()
    loads.append(("after compiling", load_average()))

    compiled = figures.compiled
    personalize = measure_personalize(renderer, compiled, issue_id, subscribers, args.rounds)
    loads.append(("after personalizing", load_average()))
    factory = renderer.factory(compiled, issue_id=issue_id)
    samples = {}
    for subscriber in (subscribers[0], subscribers[len(subscribers) // 2], subscribers[-1]):
        values = renderer.values_for(compiled, issue_id=issue_id, subscriber=subscriber)
        samples[subscriber.id] = factory.build(recipient_of(subscriber), values)
        check_message(samples[subscriber.id], renderer, compiled, issue_id, subscriber)
    if len(set(samples.values())) != len(samples):
        raise SystemExit("different recipients got the same bytes")
    message_bytes = len(samples[subscribers[0].id])
    html_bytes = len(
        compiled.html.fill(
            renderer.values_for(compiled, issue_id=issue_id, subscriber=subscribers[0])
        ).encode()
    )

    sent = datetime.now(UTC)
    few = subscribers[: args.stdlib_messages]
    stdlib_sample = stdlib_message(renderer, compiled, issue_id, few[0], sent)
    check_message(stdlib_sample, renderer, compiled, issue_id, few[0])
    stdlib_bytes = len(stdlib_sample)
    stdlib = Throughput(
        len(few),
        [
            clocked(lambda: [stdlib_message(renderer, compiled, issue_id, s, sent) for s in few])
            for _ in range(3)
        ],
    )
    loads.append(("after the stdlib baseline", load_average()))
    dkim = measure_dkim(compiled, issue_id, subscribers[: args.dkim_messages])
    if dkim:
        loads.append(("after DKIM", load_average()))

    print(
        f"Issue: {compiled.view.excerpt_count} excerpts in {len(compiled.view.sections)} "
        f"sections, variant {variant} (framings for {FRAMED_SEGMENT!r}); MJML source "
        f"{figures.mjml_source_bytes / 1000:.1f} kB, HTML {html_bytes / 1000:.1f} kB, "
        f"message {message_bytes / 1000:.1f} kB (stdlib-built: {stdlib_bytes / 1000:.1f} kB); "
        f"slots per message: {len(compiled.html.slots)} in HTML, {len(compiled.text.slots)} in text"
    )
    if abs(message_bytes - MESSAGE_SIZE_GOAL) > MESSAGE_SIZE_GOAL / 10:
        side = "above" if message_bytes > MESSAGE_SIZE_GOAL else "below"
        print(f"Note: the message is {side} the ~{MESSAGE_SIZE_GOAL // 1000} kB the target names")
    print(f"Code (app/ and emails/): {measured}")
    if len({imported, measured, code_state()}) > 1:
        print(f"WARNING: the code changed during the run ({imported}, {measured}, {code_state()})")
    print("Load average (1 / 5 / 15 min): " + "; ".join(f"{w} {v}" for w, v in loads))
    print(f"First compile in this process: {figures.first_ms:.1f} ms\n")

    verdict = "met" if percentile(figures.warm_ms, 0.95) <= COMPILE_TARGET_MS else "MISSED"
    print_table(
        ["compile one variant", "median ms", "p95 ms", "target", "verdict"],
        [
            ["compile_variant", *_ms(figures.warm_ms), f"<= {COMPILE_TARGET_MS:.0f} ms", verdict],
            ["compile_variant, premailer cache emptied", *_ms(figures.cold_ms), "", ""],
            ["Renderer.compiled, its cache emptied", *_ms(figures.renderer_ms), "", ""],
            ["baseline: mjml2html alone, same MJML", *_ms(figures.mjml_alone_ms), "", ""],
        ],
    )
    print()
    print_table(
        ["compile_variant stage", "median ms", "p95 ms"],
        [[stage, *_ms(spent)] for stage, spent in figures.stages_ms.items()],
    )
    print()
    full = personalize["full"]
    verdict = "met" if full.wall_rate >= THROUGHPUT_TARGET else "MISSED"
    rows = [["values_for + factory.build", *_rates(full), f">= {THROUGHPUT_TARGET:,}/s", verdict]]
    rows.append(["  values_for alone", *_rates(personalize["values_for"]), "", ""])
    rows.append(["  factory.build alone", *_rates(personalize["build"]), "", ""])
    rows.append(["baseline: stdlib EmailMessage", *_rates(stdlib), "", ""])
    if dkim:
        rows.append(["DKIM on (information)", *_rates(dkim), "", ""])
    print_table(["personalize", "msg/s wall", "msg/s CPU", "µs/msg", "target", "verdict"], rows)
    print(
        f"\n{len(subscribers):,} distinct recipients x {args.rounds} rounds; stdlib-built "
        f"{len(few):,} x 3; DKIM-signed {dkim.count if dkim else 0:,} x 2"
    )


def measure_dkim(compiled, issue_id, subscribers) -> Throughput | None:
    """Information only: DKIM is off unless a selector and key are configured."""
    if not subscribers:
        return None
    with dkim_key() as key:
        if key is None:
            print("No DKIM run: openssl is not installed")
            return None
        signing = Renderer(settings_for(key), TokenSigner(SECRET_KEY))
        factory = signing.factory(compiled, issue_id=issue_id)

        def sign_all() -> None:
            for s in subscribers:
                values = signing.values_for(compiled, issue_id=issue_id, subscriber=s)
                factory.build(recipient_of(s), values)

        sign_all()
        return Throughput(len(subscribers), [clocked(sign_all) for _ in range(2)])


def _ms(samples: list[float]) -> list[str]:
    return [f"{median(samples):.2f}", f"{percentile(samples, 0.95):.2f}"]


def _rates(throughput: Throughput) -> list[str]:
    wall = throughput.wall_rate
    return [f"{wall:,.0f}", f"{throughput.cpu_rate:,.0f}", f"{1e6 / wall:,.0f}"]


if __name__ == "__main__":
    main()
