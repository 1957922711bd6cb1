"""The README's channels table is what the connectors declare (regenerate with `manage.py channels_table --write`)."""

from apps.integrations.channels_table import channels_table, readme_block, readme_path
from apps.integrations.connectors.registry import CONNECTOR_PATHS


def test_the_readme_table_matches_the_registry():
    block = readme_block(readme_path().read_text(encoding="utf-8"))
    assert block is not None, "README.md lost its channels-table markers"
    assert block == channels_table(), "README's channels table is stale: run manage.py channels_table --write"


def test_every_platform_has_a_row_with_at_least_one_capability_and_a_docs_page():
    rows = channels_table().splitlines()[2:]
    assert len(rows) == len(CONNECTOR_PATHS)
    for slug, row in zip(CONNECTOR_PATHS, rows, strict=True):
        assert "✓" in row, f"{slug} declares no capability"
        assert (readme_path().parent / "docs" / "platforms" / f"{slug}.md").exists(), f"docs/platforms/{slug}.md"
