"""schemathesis against the app's own OpenAPI document, in process, as an admin API key.

Proves that no operation of /api/v1 answers a server error to any input, valid or not, and
that every answer matches what the document declares: status code, media type
(problem+json for errors), body schema, headers, and that a deleted resource is gone. First
per operation (schemathesis's examples, coverage and fuzzing phases), then as call
sequences along the links schemathesis infers between operations (stateful). About 100
examples per operation in CI; DRUMBEAT_FUZZ_EXAMPLES sets the number (a few locally).

Every default check runs, positive_data_acceptance and negative_data_rejection included: the
document states the rules the validators enforce (id ranges, lengths, patterns for one-line
text, emails and URLs, the segment rule language with its depth, the privacy mode's legal
basis, fields that may be omitted but not null), and JSON bodies take only what the document
says (app/api_types.py: no `0` as a date, no `false` or `"3"` as an integer).

A schema-valid request may still get a 422 where the rule depends on stored data or on
several fields in a way JSON Schema does not say; ACCEPTED_422 lists those operations, each
with its reason, and only there is a 422 an accepted answer to valid data. Invalid data may
also be refused with 413 (a body over the size limit, refused before it is read).
"""

import os
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig
from sqlalchemy import text

from app.config import Settings
from app.db import metadata
from app.main import create_app
from tests.conftest import make_api_key

EXAMPLES = int(os.environ.get("DRUMBEAT_FUZZ_EXAMPLES", "100" if os.environ.get("CI") else "10"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis folder in the work tree
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


def _openapi_document() -> dict:
    # The document does not depend on the database: read it from an app that never connects,
    # so pytest collects one test per operation; each runs against the `app` of each database.
    with tempfile.TemporaryDirectory() as var_dir:
        offline = create_app(
            Settings(database_url="sqlite://", secret_key="openapi", var_dir=var_dir)
        )
        document = offline.openapi()
        offline.state.engine.dispose()
    return document


# Operations where schema-valid input may still be refused (422), and why; the default
# expected statuses (2xx, 3xx, 401, 403, 404, 409, 429, 5xx) hold everywhere else.
REFERENCES = "an id or name in the body that names no row (user, segment, news item, section)"
ACCEPTED_422 = {
    ("GET", "/api/v1/subscribers"): "a well-formed cursor this API never issued",
    ("GET", "/api/v1/news-items"): "a well-formed cursor this API never issued",
    ("POST", "/api/v1/subscribers/import"): "the CSV's header row needs a unique 'email' column",
    ("POST", "/api/v1/news-items"): "valid_until after occurred_at; both within 1970-3000; "
    + REFERENCES,
    ("PATCH", "/api/v1/news-items/{news_item_id}"): "valid_until after occurred_at (also the "
    "stored one); both within 1970-3000; " + REFERENCES,
    ("POST", "/api/v1/issues"): REFERENCES,
    ("PATCH", "/api/v1/issues/{issue_id}"): REFERENCES,
    ("POST", "/api/v1/issues/{issue_id}/sections"): REFERENCES,
    ("PATCH", "/api/v1/issues/{issue_id}/sections/{section_id}"): REFERENCES,
    ("PUT", "/api/v1/issues/{issue_id}/sections/order"): "name every section exactly once",
    ("PUT", "/api/v1/issues/{issue_id}/sections/{section_id}/order"): "name every excerpt of "
    "the section exactly once",
    ("POST", "/api/v1/issues/{issue_id}/excerpts"): "from news items, or by hand with kind and "
    "headline; " + REFERENCES,
    ("PATCH", "/api/v1/issues/{issue_id}/excerpts/{excerpt_id}"): REFERENCES,
    ("POST", "/api/v1/issues/{issue_id}/excerpts/{excerpt_id}/move"): REFERENCES,
    ("PUT", "/api/v1/calendar"): REFERENCES,
    ("POST", "/api/v1/issues/{issue_id}/test-send"): "the segment must be a target of the issue",
    ("GET", "/api/v1/issues/{issue_id}/preview"): "the segment must be a target of the issue",
    ("POST", "/api/v1/issues/{issue_id}/submit"): "the issue needs a target segment and an "
    "excerpt; one without wins or open work an override_reason",
    ("POST", "/api/v1/issues/{issue_id}/approve"): "one without wins or open work needs an "
    "override_reason",
    ("POST", "/api/v1/issues/{issue_id}/schedule"): "send_at in the future",
    ("POST", "/api/v1/issues/{issue_id}/send"): "the issue needs a target segment",
    ("POST", "/api/v1/segments"): "at most 100 conditions in a rule, all groups together",
    ("POST", "/api/v1/segments/preview"): "at most 100 conditions in a rule, all groups together",
    ("PATCH", "/api/v1/segments/{segment_id}"): "at most 100 conditions in a rule, all groups "
    "together; a static segment takes no rule",
}
DEFAULT_EXPECTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]


def _fuzz_config() -> SchemathesisConfig:
    # One per schema: a schema's include/exclude filters live in its config.
    return SchemathesisConfig.from_dict(
        {
            # Invalid data may also be refused as too large (413) before it is read.
            "checks": {"negative_data_rejection": {"expected-statuses": [*REJECTED, "413"]}},
            # No NUL in generated strings: PostgreSQL's text cannot hold one, so the app
            # refuses it there (422) and stores it on SQLite, a rule of the database the
            # document cannot state. tests/test_app.py sends NUL to every database.
            "generation": {"allow-x00": False},
            "operations": [
                {
                    "include-method": method,
                    "include-path": path,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*DEFAULT_EXPECTED, "422"]
                        }
                    },
                }
                for method, path in ACCEPTED_422
            ],
        }
    )


# Segment rules nest (groups of groups). pydantic's schema of a rule is recursive, and
# schemathesis's negative mode (invalid bodies, syntax fuzzing) recursed without end on it,
# inside the generator; the document now writes the rule out five groups deep
# (app/segments/models.py), but the operations taking a rule still get valid bodies only.
# (Hand-made nesting of 10 to 5,000 groups is a 422 or 400: the app refuses rules deeper
# than 5 groups.)
RULE_BODIES = r"^/api/v1/segments(/preview|/\{segment_id\})?$"
schema = schemathesis.openapi.from_dict(_openapi_document(), config=_fuzz_config()).exclude(
    method=["POST", "PATCH"], path_regex=RULE_BODIES
)
# Written as exclusions: with an `operations` config, schemathesis ORs a later include with
# the config's own (match-all) selection, so an include would select every operation.
rule_schema = (
    schemathesis.openapi.from_dict(_openapi_document(), config=_fuzz_config())
    .exclude(method=["GET", "PUT", "DELETE"])
    .exclude(path_regex=f"^(?!{RULE_BODIES.removeprefix('^')})")
)
rule_schema.config.generation.update(modes=[GenerationMode.POSITIVE])


class AdminKey:
    """The Bearer header of an admin key, made anew after the fuzzer revokes the current one."""

    def __init__(self, engine):
        self.engine = engine
        self.secret = ""

    def headers(self) -> dict[str, str]:
        if not self.secret:
            self.secret = make_api_key(self.engine, "admin", name="fuzzer")
        return {"Authorization": f"Bearer {self.secret}"}

    def after(self, case, response) -> None:
        revoked = case.method.upper() == "DELETE" and "/api-keys/" in case.path
        if revoked and response.status_code < 300:
            self.secret = ""


@pytest.fixture
def admin_key(engine) -> AdminKey:
    return AdminKey(engine)


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_conforms(case, app, admin_key):
    _call_and_check(case, app, admin_key)


@rule_schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_taking_a_rule_conforms(case, app, admin_key):
    _call_and_check(case, app, admin_key)


def _call_and_check(case, app, admin_key) -> None:
    headers = admin_key.headers()
    response = case.call(app=app, headers=headers)
    admin_key.after(case, response)
    case.validate_response(response, headers=headers)


def _empty_tables(engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                connection.execute(table.delete())


def test_call_sequences_conform(app, admin_key):
    """Stateful: create, then read, change and delete what was created, along inferred links."""

    class Workflow(schema.as_state_machine()):
        def setup(self):
            # Every scenario starts from empty tables (and ids from 1): the next call's input
            # is drawn from the answers, so leftovers of the last scenario would make
            # Hypothesis's replay of a failure draw differently.
            super().setup()
            _empty_tables(app.state.engine)
            admin_key.secret = ""

        def get_call_kwargs(self, case):
            return {"app": app, "headers": admin_key.headers()}

        def after_call(self, response, case):
            super().after_call(response, case)
            admin_key.after(case, response)

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, headers=kwargs.get("headers"))

    Workflow.run(
        settings=settings(FUZZ_SETTINGS, max_examples=max(EXAMPLES // 2, 5), stateful_step_count=10)
    )
