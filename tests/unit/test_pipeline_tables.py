"""The pipeline declaration is consistent: unique ids, forward-only links, known table names."""

from pathlib import Path

from steerflow.pipeline.tables import BY_NAME, PIPELINE, render_markdown, table_id


def test_table_ids_are_unique_and_ascending() -> None:
    ids = [t.id for t in PIPELINE]
    assert ids == sorted(set(ids))


def test_every_next_table_exists() -> None:
    for table in PIPELINE:
        for name in table.next_tables:
            assert name in BY_NAME, f"{table.name} links to unknown table {name}"


def test_markdown_lists_every_table() -> None:
    doc = render_markdown()
    for table in PIPELINE:
        assert f"| {table.id} | {table.name} |" in doc
    assert table_id("EGRESS") == PIPELINE[-1].id


def test_gotos_go_forward_only() -> None:
    """OpenFlow refuses a goto_table to an earlier table (resubmits may go anywhere)."""
    for table in PIPELINE:
        for name in table.next_tables:
            assert BY_NAME[name].id > table.id, f"{table.name} goes back to {name}"
        for name in table.resubmits:
            assert name in BY_NAME, f"{table.name} resubmits to unknown table {name}"


def test_bands_of_a_table_are_ordered_and_disjoint() -> None:
    for table in PIPELINE:
        assert table.bands, f"{table.name} declares no priorities"
        for low, high in zip(table.bands, table.bands[1:], strict=False):
            assert low.low <= low.high < high.low <= high.high, f"{table.name}: {low} and {high}"


def test_the_docs_page_is_generated_from_the_declaration() -> None:
    """docs/pipeline.md is current: regenerate it with `python -m steerflow.pipeline.tables`."""
    page = Path(__file__).parents[2] / "docs" / "pipeline.md"
    assert page.read_text() == render_markdown()
