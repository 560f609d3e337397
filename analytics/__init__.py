"""Search and click analytics: the recorder the web app feeds and the reports the dashboard
and `kindred analytics` read. Standard library only (SQLite); imports nothing of web/."""
