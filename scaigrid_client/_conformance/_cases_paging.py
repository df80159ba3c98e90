"""Cases: paged listings: pages no larger than asked, items in order, none
twice, and the last page without a next_page_token. They run after the
cases that create jobs and nodes, so a run with --allow-writes has pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scaigrid_client import Pager
from scaigrid_client._conformance._checks import expect, expect_equal
from scaigrid_client._conformance._context import Context
from scaigrid_client._conformance._registry import ANY_GATEWAY, case

_MAX_PAGES = 20  # a large gateway's listing is sampled, not read to the end


async def _walk(
    pager: Pager[Any], field: str, size: int, key: Callable[[Any], Any]
) -> tuple[list[Any], int, bool]:
    """Up to ``_MAX_PAGES`` pages: (the items' keys, pages read, whether the listing ended)."""
    keys: list[Any] = []
    pages = 0
    async for page in pager.pages:
        pages += 1
        items = list(getattr(page, field))
        expect(
            len(items) <= size,
            f"items on page {pages} with page_size={size}",
            f"at most {size}",
            len(items),
        )
        keys.extend(key(item) for item in items)
        if not page.next_page_token:
            return keys, pages, True
        expect(bool(items), f"page {pages}", "items, as it has a next_page_token", "none")
        if pages >= _MAX_PAGES:
            await pager.aclose()
            break
    return keys, pages, False


@case("paging_nodes", where=ANY_GATEWAY, writes=False)
async def paging_nodes(ctx: Context) -> str:
    """ListNodes a page of 1 at a time: sorted by node id, none twice, the last page without a token."""
    ids, pages, ended = await _walk(
        ctx.grid.cluster.iter_nodes(page_size=1), "nodes", 1, lambda n: n.node_id
    )
    expect_equal("node ids across pages", sorted(set(ids)), ids)
    if ended:
        expect_equal(
            "ListNodes page by page vs in one go",
            [n.node_id for n in await ctx.grid.cluster.list_nodes()],
            ids,
        )
    return f"nodes: {len(ids)}, pages: {pages}"


@case("paging_jobs", where=ANY_GATEWAY, writes=False)
async def paging_jobs(ctx: Context) -> str:
    """ListJobs 2 at a time: newest first (created_at never increases), no job twice."""
    pager = ctx.grid.coordinator.iter_jobs(page_size=2)
    jobs, pages, _ = await _walk(pager, "jobs", 2, lambda j: (j.id, j.created_at.ToNanoseconds()))
    ids = [j for j, _ in jobs]
    expect_equal("jobs listed twice", [], sorted({j for j in ids if ids.count(j) > 1}))
    created = [c for _, c in jobs]
    expect_equal("created_at across pages (newest first)", sorted(created, reverse=True), created)
    return f"jobs: {len(ids)}, pages: {pages}"
