"""API operations: exclusions."""

from ninja import Router

router = Router(tags=["exclusions"])
