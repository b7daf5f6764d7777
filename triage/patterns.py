"""The allowlist's organisation patterns, which destinations' filters use too:
case-insensitive, and * matches any run of characters."""

import re


def pattern_regex(pattern: str) -> str:
    """An organisation pattern as an anchored regex: * is any run of characters."""
    return "^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$"
