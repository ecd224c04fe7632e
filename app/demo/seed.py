"""Demo data: a believable IT department's audience, loaded into an empty database."""

import random

from sqlalchemy import func, select
from sqlmodel import Session

from app.accounts.principal import SYSTEM_PRINCIPAL
from app.segments import service as segments
from app.segments.models import SegmentCreate
from app.segments.rules import Rule
from app.subscribers.models import Subscriber, SubscriberStatus

FIRST_NAMES = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Elif",
    "Felix",
    "Greta",
    "Hannes",
    "Ines",
    "Jonas",
    "Katja",
    "Lukas",
    "Mara",
    "Nils",
    "Olga",
    "Paul",
    "Rosa",
    "Sven",
    "Tara",
    "Uwe",
    "Vera",
    "Wim",
    "Yara",
    "Zoe",
    "Aylin",
    "Bjorn",
    "Chiara",
    "Dario",
]
LAST_NAMES = [
    "Berger",
    "Costa",
    "Dietrich",
    "Eriksson",
    "Fischer",
    "Graf",
    "Hoffmann",
    "Ivanova",
    "Jansen",
    "Keller",
    "Lindqvist",
    "Meyer",
    "Novak",
    "Olsen",
    "Peters",
    "Quint",
    "Richter",
    "Schmidt",
    "Tanaka",
    "Urban",
    "Vogel",
    "Weber",
    "Yilmaz",
    "Zimmer",
]
DEPARTMENTS = [
    "Finance",
    "Human Resources",
    "Sales",
    "Marketing",
    "Production",
    "Logistics",
    "Legal",
    "Procurement",
    "Research",
    "IT",
]
LOCATIONS = ["Berlin", "Munich", "Hamburg", "Vienna", "Zurich", "Stockholm"]
ITSM_ROLES = [
    "service_owner",
    "change_manager",
    "incident_manager",
    "problem_manager",
    "license_manager",
]

SEGMENTS = [
    (
        "Top management",
        "Board and heads of division: cost, risk, strategy.",
        {"all": [{"field": "role", "op": "eq", "value": "management"}]},
    ),
    (
        "Budget holders",
        "Business decision makers who own an IT budget.",
        {"all": [{"field": "budget_holder", "op": "eq", "value": "yes"}]},
    ),
    (
        "ITSM roles",
        "Service owners, change, incident, problem and licence managers.",
        {"all": [{"field": "itsm_role", "op": "exists", "value": True}]},
    ),
    (
        "Key users",
        "Multipliers in the departments.",
        {"all": [{"field": "key_user", "op": "eq", "value": "yes"}]},
    ),
    (
        "All staff",
        "Everyone with an active subscription.",
        {"all": [{"field": "status", "op": "eq", "value": "active"}]},
    ),
    (
        "Finance in Berlin",
        "An example of two conditions.",
        {
            "all": [
                {"field": "department", "op": "eq", "value": "Finance"},
                {"field": "location", "op": "eq", "value": "Berlin"},
            ]
        },
    ),
]


def is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(Subscriber))


def load(session: Session, *, subscriber_count: int = 200, seed: int = 7) -> None:
    """Add subscribers and the seeds' target groups; the same seed gives the same people."""
    rng = random.Random(seed)
    for index in range(subscriber_count):
        session.add(_person(rng, index))
    session.flush()
    for name, description, rule in SEGMENTS:
        segments.create(
            session,
            data=SegmentCreate(name=name, description=description, rule=Rule.model_validate(rule)),
            actor=SYSTEM_PRINCIPAL,
        )


def _person(rng: random.Random, index: int) -> Subscriber:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    role = rng.choices(
        ["management", "head_of_department", "team_lead", "employee"], weights=[4, 10, 20, 66]
    )[0]
    attributes = {
        "department": rng.choice(DEPARTMENTS),
        "role": role,
        "location": rng.choice(LOCATIONS),
        "language": rng.choices(["en", "de", "sv"], weights=[5, 4, 1])[0],
        "budget_holder": "yes" if role in ("management", "head_of_department") else "no",
        "key_user": "yes" if rng.random() < 0.12 else "no",
    }
    if attributes["department"] == "IT" or rng.random() < 0.05:
        attributes["itsm_role"] = rng.choice(ITSM_ROLES)
    status = rng.choices(list(SubscriberStatus), weights=[92, 5, 2, 1])[0]
    email = f"{first}.{last}.{index}@example.com".lower()
    return Subscriber(email=email, name=f"{first} {last}", attributes=attributes, status=status)
