"""The pipeline declaration is consistent: unique ids, forward-only links, known table names."""

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
