"""Command-line helpers the Makefile runs (`python scripts/<name>.py`); importable too."""
