"""The ASN allowlist: exclusions, their services (every change audited and judged for
breadth), selectors and pages."""
