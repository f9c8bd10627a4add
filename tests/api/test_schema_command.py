"""The OpenAPI schema generates without a warning and validates (issue 5's contract:
`manage.py spectacular --validate --fail-on-warn` is clean)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.management.commands.spectacular import SchemaGenerationError


def test_the_schema_validates_without_warnings(tmp_path: Path) -> None:
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    schema = yaml.safe_load(target.read_text())
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for resource in ("posts", "attaches", "accreditations", "relationships", "areas", "desks", "activities"):
        assert f"/api/v1/{resource}/" in paths, resource
    assert "/api/v1/intensity/" in paths
    assert set(paths["/api/v1/activities/{id}/"]) >= {"get", "put", "patch", "delete"}


def test_a_warning_fails_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--fail-on-warn is not idle: a warning during generation fails the command."""
    from drf_spectacular import drainage
    from drf_spectacular.generators import SchemaGenerator

    real = SchemaGenerator.get_schema

    def get_schema(self: SchemaGenerator, *args: Any, **kwargs: Any) -> Any:
        schema = real(self, *args, **kwargs)
        drainage.warn("a planted warning")  # after generation, which starts by clearing the counts
        return schema

    monkeypatch.setattr(SchemaGenerator, "get_schema", get_schema)
    try:
        with pytest.raises(SchemaGenerationError, match="warnings"):
            call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    finally:
        drainage.GENERATOR_STATS.reset()
