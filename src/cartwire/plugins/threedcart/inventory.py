"""Stock of products and variants: find what an SKU names, plan a change, apply it safely.

An order line's `ItemID` is the product's SKU, or for a variant the product's SKU followed by the
variant's `AdvancedOptionSufix` (`CORSET` + `-XS`); a product's own stock is `SKUInfo.Stock`, a
variant's is its `AdvancedOptionStock`. 3dcart has no idempotency header and no relative stock
update, so a change is planned as absolute figures (old -> new) and that plan is written into the
order's internal comments, tagged with the action's key, before any stock is written. A repeat
finds the plan and applies only what is still at its old figure: a stock already at its new figure
was written before, one at any other figure was changed by someone else meanwhile and is left alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from cartwire.plugins.connector import ActionError, PermanentError, TransientError
from cartwire.plugins.threedcart.client import ThreeDCartClient
from cartwire.plugins.threedcart.wire import WireProduct, WireResult

BACKORDER = 2  # InventoryControl: the product is sold on back-order (below zero)
NegativeStock = Literal["backorder", "allow", "refuse"]
JOURNAL = "Stock adjusted by Cartwire: "
# 3dcart documents no maximum for a bulk PUT; SkuVault's production client sends stock 100 at a time.
PRODUCTS_PER_PUT = 100


@dataclass(frozen=True)
class StockLine:
    """One planned change: the SKU's stock from `old` to `new` (`option` is "" for a product)."""

    sku: str
    catalog_id: int
    option: str
    old: Decimal
    new: Decimal

    def as_json(self) -> list[Any]:
        return [self.sku, self.catalog_id, self.option, str(self.old), str(self.new)]

    @classmethod
    def from_json(cls, item: list[Any]) -> StockLine:
        sku, catalog_id, option, old, new = item
        return cls(str(sku), int(catalog_id), str(option), Decimal(old), Decimal(new))


def find_product(client: ThreeDCartClient, sku: str, catalog_id: int) -> WireProduct:
    """The product `sku` belongs to: by `catalog_id` when known (an order line has it), else by SKU."""
    if catalog_id:
        rows = client.get_rows(f"/Products/{catalog_id}")
    else:
        rows = client.get_rows("/Products", {"sku": sku, "limit": 200})
    products = [WireProduct.model_validate(row) for row in rows]
    if not catalog_id:
        products = [p for p in products if p.SKUInfo.SKU.casefold() == sku.casefold()]
    if len(products) != 1:
        where = f"CatalogID {catalog_id}" if catalog_id else f"SKU {sku!r}"
        found = "no product" if not products else f"{len(products)} products"
        hint = "" if catalog_id else " (a variant's SKU needs the product's catalog_id)"
        raise PermanentError(f"3dcart has {found} with {where}{hint}")
    return products[0]


def plan(
    client: ThreeDCartClient, changes: Iterable[tuple[str, int, Decimal]], negative_stock: NegativeStock
) -> list[StockLine]:
    """Absolute figures for `(sku, catalog_id, change)`s; refuses, before any write, stock below zero
    that the store does not allow."""
    lines: dict[tuple[int, str], StockLine] = {}
    for sku, catalog_id, change in changes:
        product = find_product(client, sku, catalog_id)
        option, stock = _target(product, sku)
        key = (product.SKUInfo.CatalogID, option)
        before = lines.get(key)
        old = before.old if before else stock
        new = (before.new if before else stock) + change
        if new < 0 and not _may_go_negative(product, negative_stock):
            raise PermanentError(
                f"stock of {sku!r} would go from {old} to {new}; the store does not sell it on back-order "
                f"(InventoryControl {product.InventoryControl}, negative_stock = {negative_stock!r})"
            )
        lines[key] = StockLine(sku, product.SKUInfo.CatalogID, option, old, new)
    return [line for line in lines.values() if line.new != line.old]


def _target(product: WireProduct, sku: str) -> tuple[str, Decimal]:
    """(AdvancedOptionCode, stock) of the variant `sku` names, or ("", product stock)."""
    base = product.SKUInfo.SKU
    if sku.casefold() == base.casefold():
        return "", product.SKUInfo.Stock
    for option in product.AdvancedOptionList:
        if (base + option.AdvancedOptionSufix).casefold() == sku.casefold():
            return option.AdvancedOptionCode, option.AdvancedOptionStock
    raise PermanentError(f"product {base!r} (CatalogID {product.SKUInfo.CatalogID}) has no variant with SKU {sku!r}")


def _may_go_negative(product: WireProduct, negative_stock: NegativeStock) -> bool:
    return negative_stock == "allow" or (negative_stock == "backorder" and product.InventoryControl == BACKORDER)


def journal_text(lines: Iterable[StockLine]) -> str:
    return JOURNAL + json.dumps([line.as_json() for line in lines], separators=(",", ":"))


def read_journal(comments: str, tag: str) -> list[StockLine] | None:
    """The plan written under `tag` in the order's comments, or None when there is none."""
    for line in comments.splitlines():
        if line.startswith(JOURNAL) and line.endswith(tag):
            return [StockLine.from_json(item) for item in json.loads(line[len(JOURNAL) : -len(tag)])]
    return None


def apply(client: ThreeDCartClient, lines: Iterable[StockLine], fresh: bool) -> dict[str, str]:
    """Write each planned figure; `fresh` plans were read just now, a replayed one is read again.

    Products go in bulk (`PUT /Products`, up to `PRODUCTS_PER_PUT` a request), variants one PUT
    each. Every item is tried; if any was refused, the call fails naming the refused SKUs and what
    became of the others: the written ones read as "already applied" on a retry.
    """
    planned = list(lines)
    outcome: dict[str, str] = {}
    due: list[StockLine] = []
    for line in planned:
        current = line.old if fresh else _current(client, line)
        if current == line.new:
            outcome[line.sku] = "already applied"
        elif current != line.old:
            outcome[line.sku] = f"left alone: changed meanwhile to {current}"
        else:
            due.append(line)
    failures = _write_products(client, [line for line in due if not line.option])
    failures += [failure for line in due if line.option and (failure := _write_variant(client, line))]
    refused = {failure.sku for failure in failures}
    outcome |= {line.sku: f"{line.old} -> {line.new}" for line in due if line.sku not in refused}
    if failures:
        raise _not_written(failures, outcome)
    return outcome


def _current(client: ThreeDCartClient, line: StockLine) -> Decimal:
    product = find_product(client, line.sku, line.catalog_id)
    return _target(product, line.sku)[1]


def _write_products(client: ThreeDCartClient, lines: list[StockLine]) -> list[Failure]:
    """One bulk PUT per `PRODUCTS_PER_PUT` lines (one request each, as the rate limit counts them)."""
    failures: list[Failure] = []
    for start in range(0, len(lines), PRODUCTS_PER_PUT):
        batch = lines[start : start + PRODUCTS_PER_PUT]
        body = [{"SKUInfo": {"CatalogID": line.catalog_id, "Stock": line.new}} for line in batch]
        try:
            results = client.write_items("PUT", "/Products", body)
        except ActionError as error:
            failures += [Failure.of_error(line.sku, error) for line in batch]
            continue
        failures += [Failure.of_result(line.sku, r) for line, r in zip(batch, results, strict=True) if not r.ok]
    return failures


def _write_variant(client: ThreeDCartClient, line: StockLine) -> Failure | None:
    path = f"/Products/{line.catalog_id}/AdvancedOptions/{line.option}"
    try:
        client.write("PUT", path, {"AdvancedOptionCode": line.option, "AdvancedOptionStock": line.new})
    except ActionError as error:
        return Failure.of_error(line.sku, error)
    return None


@dataclass(frozen=True)
class Failure:
    """Why one line's stock was not written; `transient` failures may succeed when tried again."""

    sku: str
    reason: str
    transient: bool
    status: int | None = None
    retry_after: float | None = None

    @classmethod
    def of_result(cls, sku: str, result: WireResult) -> Failure:
        status = int(result.Status) if result.Status.strip().isdigit() else None
        transient = status is not None and (status in (408, 429) or status >= 500)
        return cls(sku, f"{result.Message or 'no message'} (status {result.Status or '?'})", transient, status)

    @classmethod
    def of_error(cls, sku: str, error: ActionError) -> Failure:
        return cls(sku, str(error), error.transient, error.status, error.retry_after)


def _not_written(failures: list[Failure], outcome: Mapping[str, str]) -> ActionError:
    """The error of a plan some of whose lines were refused (the others were written or needed no
    write): transient when every refusal is, else permanent, for a person to look at."""
    refused = "; ".join(f"{failure.sku}: {failure.reason}" for failure in failures)
    others = ", ".join(f"{sku} {done}" for sku, done in outcome.items()) or "none"
    message = (
        f"3dcart refused the stock of {len(failures)} line(s) [{refused}]; the other lines: {others}. "
        "The plan stays in the order's comments, so a retry writes only what is still at its old figure"
    )
    permanent = [failure for failure in failures if not failure.transient]
    if permanent:
        return PermanentError(message, status=permanent[0].status)
    waits = [failure.retry_after for failure in failures if failure.retry_after is not None]
    return TransientError(message, status=failures[0].status, retry_after=max(waits, default=None))


def summary(lines: Iterable[StockLine], outcome: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"sku": line.sku, "from": str(line.old), "to": str(line.new), "done": outcome[line.sku]} for line in lines]
