"""KFP's list calls, page after page: each page's token asks for the next, until none (or
one seen before: a server that loops is not followed round)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

Api = TypeVar("Api")  # what `call` hands `fetch`: kfp.Client's APIs, or a plain HTTP session


def pages(
    call: Callable[[str, Callable[[Api], Any]], Any],
    operation: str,
    fetch: Callable[[Api, str], Any],
    attribute: str,
) -> Iterator[Any]:
    """Every item of `attribute` over the pages `fetch(apis, token)` returns."""
    token = ""
    seen: set[str] = set()
    while True:
        page = call(operation, functools.partial(_fetch_page, fetch, token=token))
        yield from getattr(page, attribute, None) or []
        token = page.next_page_token or ""
        if not token or token in seen:
            return
        seen.add(token)


def _fetch_page(fetch: Callable[[Api, str], Any], apis: Api, token: str) -> Any:
    return fetch(apis, token)
