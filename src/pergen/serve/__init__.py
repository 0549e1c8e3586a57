"""`pergen serve`: a profile store and an OpenAI-compatible personalizing proxy.

The store (`models`, `db`, `store`) holds tenants, hashed API keys, users and their
profile items in SQLite (WAL, the embedded default) or PostgreSQL (many processes and
machines); `migrate` applies the Alembic migrations shipped in this package. `app` is the
FastAPI application: item CRUD, retrieval, prompts and `/v1/chat/completions`, which
retrieves from the caller's profile and forwards to any OpenAI-compatible server.

Nothing here is imported by ``import pergen``: FastAPI and SQLAlchemy load only when a
`serve`, `keys` or `import` command runs (extra ``pergen[serve]``).
"""
