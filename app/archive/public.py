"""The intranet archive of sent issues (placeholder until the archive lands)."""

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
