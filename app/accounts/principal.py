"""Who is making a request: a studio user or an integrating service's API key."""

from dataclasses import dataclass, field

from app.accounts.models import Role, Scope

# Permissions only people hold: composing and approving bulletins are never given to a key.
ISSUES_WRITE = "issues:write"
ISSUES_APPROVE = "issues:approve"
# The feedback inbox holds names and addresses people chose to give: people only, too.
FEEDBACK_READ = "feedback:read"
FEEDBACK_TRIAGE = "feedback:triage"

# What each studio role may do, in the API's own vocabulary of scopes.
_READ = frozenset({"subscribers:read", "issues:read", "stats:read", FEEDBACK_READ})
ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.admin: frozenset({*(s.value for s in Scope), ISSUES_WRITE, ISSUES_APPROVE}),
    Role.editor: _READ | {"news:write", "subscribers:write", ISSUES_WRITE, FEEDBACK_TRIAGE},
    Role.approver: _READ | {ISSUES_APPROVE, FEEDBACK_TRIAGE},
    Role.viewer: _READ,
}


@dataclass(frozen=True)
class Principal:
    kind: str  # "user", "api_key" or "cli"
    id: int | None
    label: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    role: Role | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


CLI_PRINCIPAL = Principal(
    kind="cli", id=None, label="command line", scopes=frozenset({"admin"}), role=Role.admin
)
SYSTEM_PRINCIPAL = Principal(
    kind="system", id=None, label="drumbeat", scopes=frozenset({"admin"}), role=Role.admin
)
