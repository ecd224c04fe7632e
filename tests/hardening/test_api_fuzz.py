"""schemathesis against the app's own OpenAPI document, in process, as an admin API key.

Proves that no operation of /api/v1 answers a server error to any input, valid or not, and
that every answer matches what the document declares: status code, media type
(problem+json for errors), body schema, headers, and that a deleted resource is gone. First
per operation (schemathesis's examples, coverage and fuzzing phases), then as call
sequences along the links schemathesis infers between operations (stateful). About 100
examples per operation in CI; DRUMBEAT_FUZZ_EXAMPLES sets the number (a few locally).

Two of schemathesis's default checks are left out, each for a reason listed below; they
judge how precisely the document states the rules, not whether the API is safe:
- positive_data_acceptance: the validators are stricter than the document says (non-empty
  strings, email syntax, http(s) webhook URLs, a legal basis for individual tracking,
  complete rule conditions, opaque paging cursors), so schema-valid input gets a 422.
- negative_data_rejection: pydantic's lax mode takes `0.5` as a datetime, `0` as a date and
  `false` as an integer where the document says string or integer.
"""

import os
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, positive_data_acceptance
from sqlalchemy import text

from app.config import Settings
from app.db import metadata
from app.main import create_app
from tests.conftest import make_api_key

EXAMPLES = int(os.environ.get("DRUMBEAT_FUZZ_EXAMPLES", "100" if os.environ.get("CI") else "10"))
EXCLUDED_CHECKS = [positive_data_acceptance, negative_data_rejection]
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


# Segment rules are a recursive schema (groups of groups). schemathesis's negative mode
# (invalid bodies, syntax fuzzing) recurses without end on it, inside the generator, so the
# operations taking a rule get valid bodies only. (Hand-made nesting of 10 to 5,000 groups is
# a 422 or 400: the app refuses rules deeper than 5 groups.)
RULE_BODIES = r"^/api/v1/segments(/preview|/\{segment_id\})?$"
schema = schemathesis.openapi.from_dict(_openapi_document()).exclude(
    method=["POST", "PATCH"], path_regex=RULE_BODIES
)
rule_schema = schemathesis.openapi.from_dict(_openapi_document()).include(
    method=["POST", "PATCH"], path_regex=RULE_BODIES
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
    case.validate_response(response, headers=headers, excluded_checks=EXCLUDED_CHECKS)


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
            case.validate_response(
                response,
                headers=kwargs.get("headers"),
                excluded_checks=EXCLUDED_CHECKS,
            )

    Workflow.run(
        settings=settings(FUZZ_SETTINGS, max_examples=max(EXAMPLES // 2, 5), stateful_step_count=10)
    )
