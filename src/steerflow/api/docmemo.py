"""Values derived from stored documents, computed once per document.

API writes validate against every object of a kind (rule 29 compares a chain's classifiers with every
other chain's; labels are allocated around every chain's). Snapshots share stored documents from one
revision to the next and nobody changes a stored document, so what is derived from one can be kept
for as long as that very document object lives: the cache holds the document itself, so its `id()`
cannot be reused by another object while the entry exists.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")
Doc = Mapping[str, Any]
LIMIT = 200_000  # entries per derived value; cleared whole when reached (documents of a big NB)


def per_document(derive: Callable[[Doc], T]) -> Callable[[Doc], T]:
    """`derive(doc)`, memoised by the identity of `doc`."""
    cache: dict[int, tuple[Doc, T]] = {}

    @functools.wraps(derive)
    def memoised(doc: Doc) -> T:
        hit = cache.get(id(doc))
        if hit is not None and hit[0] is doc:
            return hit[1]
        value = derive(doc)
        if len(cache) >= LIMIT:
            cache.clear()
        cache[id(doc)] = (doc, value)
        return value

    return memoised
