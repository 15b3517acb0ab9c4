"""Documents the department issues (Decree 30/2020 layout): one model, rendered to DOCX, PDF and XLSX."""

from __future__ import annotations

from typing import Any

from app.documents.model import Issuer


def issuer_of(settings: Any) -> Issuer:
    """The issuing authority of this installation (``BTSPLAN_AUTHORITY``, ``BTSPLAN_AUTHORITY_PARENT``, …)."""
    return Issuer(parent=settings.authority_parent, authority=settings.authority, place=settings.authority_place)
