"""Long-term memory of a project: LangGraph's BaseStore (SQLite or PostgreSQL), offline search."""
