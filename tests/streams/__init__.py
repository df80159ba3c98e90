"""Server streams: resume after drops and restarts, many streams on one client, load, dead links."""
