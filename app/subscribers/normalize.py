"""One definition of a valid, comparable email address."""

from email_validator import EmailNotValidError, validate_email


def normalize_email(raw: str) -> str:
    """Validate syntax (no DNS: imports must not depend on the network) and lower-case it.

    Raises ValueError with a reason a person can act on.
    """
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"invalid email address {raw!r}: {exc}") from exc
    return result.normalized.lower()
