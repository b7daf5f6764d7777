"""The alert preview: the list's side panel (Kibana's alert flyout), which is also a page."""
