"""The weekly false-positive review: its figures (selectors), the CSV export (exports),
the e-mailed digest (services) and the page (views)."""
