"""Who is making a request: a studio user or an integrating service's API key."""

from dataclasses import dataclass, field

from app.accounts.models import Role, Scope

# What each studio role may do, in the API's own vocabulary of scopes.
ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.admin: frozenset(s.value for s in Scope),
    Role.editor: frozenset(
        {"news:write", "subscribers:read", "subscribers:write", "issues:read", "stats:read"}
    ),
    Role.approver: frozenset({"subscribers:read", "issues:read", "stats:read"}),
    Role.viewer: frozenset({"subscribers:read", "issues:read", "stats:read"}),
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
