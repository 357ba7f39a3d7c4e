"""Stock actions against the emulator: products and variants, never below zero unless allowed, once."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from threedcart_helpers import sample_order

from cartwire.core.catalog import Catalog
from cartwire.core.engine import compile_rules
from cartwire.grammar import parse_rules
from cartwire.plugins.connector import PermanentError, TransientError
from cartwire.plugins.sezzle import Sezzle, SezzleSettings
from cartwire.plugins.threedcart import ThreeDCart, ThreeDCartSettings, inventory
from cartwire.plugins.threedcart.actions import AddCommentArguments, AdjustStockArguments, DeductStockArguments
from cartwire.plugins.threedcart.client import ThreeDCartClient
from cartwire.plugins.threedcart.emulator import ThreeDCartEmulator
from cartwire.plugins.threedcart.inventory import StockLine, journal_text, read_journal

API = "/3dCartWebAPI/v1"
MUG, TEA, SPOON = 210, 305, 410


def product(catalog_id: int, sku: str, stock: int, *options: tuple[str, str, int], control: int = -1) -> dict[str, Any]:
    return {
        "SKUInfo": {"CatalogID": catalog_id, "SKU": sku, "Name": sku.title(), "Price": Decimal("9.99"), "Stock": stock},
        "InventoryControl": control,
        "AdvancedOptionList": [
            {
                "AdvancedOptionCode": code,
                "AdvancedOptionSufix": suffix,
                "AdvancedOptionName": suffix,
                "AdvancedOptionStock": n,
            }
            for code, suffix, n in options
        ],
    }


@pytest.fixture
def shop(emulator: ThreeDCartEmulator) -> ThreeDCartEmulator:
    """The sample order's products: MUG with a BLUE variant (MUG-BLUE is what was ordered), TEA-SAMPLER."""
    emulator.add_product(product(MUG, "MUG", 50, ("11", "-BLUE", 5), ("12", "-RED", 3)))
    emulator.add_product(product(TEA, "TEA-SAMPLER", 4))
    return emulator


def variant_stock(emulator: ThreeDCartEmulator, catalog_id: int, code: str) -> int:
    options = emulator.product(catalog_id)["AdvancedOptionList"]
    return next(o["AdvancedOptionStock"] for o in options if o["AdvancedOptionCode"] == code)


def test_deduct_stock_takes_each_line_off_its_variant_or_product(
    connector: ThreeDCart, shop: ThreeDCartEmulator
) -> None:
    result = connector.execute("deduct_stock", DeductStockArguments(order="AB-1001"), "key-1")
    assert variant_stock(shop, MUG, "11") == 3  # 2 blue mugs ordered
    assert shop.product(MUG)["SKUInfo"]["Stock"] == 50  # the product's own figure is the variants' business
    assert shop.product(TEA)["SKUInfo"]["Stock"] == 3
    assert result["stock"] == [
        {"sku": "MUG-BLUE", "from": "5", "to": "3", "done": "5 -> 3"},
        {"sku": "TEA-SAMPLER", "from": "4", "to": "3", "done": "4 -> 3"},
    ]
    assert ("PUT", f"{API}/Products/{MUG}/AdvancedOptions/11") in shop.requests
    assert ("PUT", f"{API}/Products") in shop.requests
    assert "Stock adjusted by Cartwire" in shop.order(5001)["InternalComments"]


def test_a_repeat_does_not_take_stock_twice(connector: ThreeDCart, shop: ThreeDCartEmulator) -> None:
    connector.execute("deduct_stock", DeductStockArguments(order="AB-1001"), "key-1")
    again = connector.execute("deduct_stock", DeductStockArguments(order="AB-1001"), "key-1")
    assert again["already_present"] is True
    assert [line["done"] for line in again["stock"]] == ["already applied", "already applied"]
    assert (variant_stock(shop, MUG, "11"), shop.product(TEA)["SKUInfo"]["Stock"]) == (3, 3)
    # Another call (another key) is another deduction.
    connector.execute("deduct_stock", DeductStockArguments(order="AB-1001"), "key-2")
    assert variant_stock(shop, MUG, "11") == 1


def planned(connector: ThreeDCart, key: str, *lines: StockLine) -> None:
    """Leave the journal of an interrupted call `key` in order 5001's comments, as that call would."""
    connector.execute("add_comment", AddCommentArguments(order="5001", text=journal_text(lines)), key)


def test_a_call_cut_off_after_the_plan_finishes_the_rest_on_retry(
    connector: ThreeDCart, shop: ThreeDCartEmulator
) -> None:
    # The plan was written and the mug variant updated; then the answer never came.
    planned(
        connector,
        "key-1",
        StockLine("MUG-BLUE", MUG, "11", Decimal(5), Decimal(3)),
        StockLine("TEA-SAMPLER", TEA, "", Decimal(4), Decimal(3)),
    )
    shop.add_product(product(MUG, "MUG", 50, ("11", "-BLUE", 3), ("12", "-RED", 3)))
    result = connector.execute("deduct_stock", DeductStockArguments(order="AB-1001"), "key-1")
    assert result["already_present"] is True
    assert [line["done"] for line in result["stock"]] == ["already applied", "4 -> 3"]
    assert (variant_stock(shop, MUG, "11"), shop.product(TEA)["SKUInfo"]["Stock"]) == (3, 3)


@pytest.fixture
def basket(shop: ThreeDCartEmulator) -> ThreeDCartEmulator:
    """Order AB-1003 (5003): two blue mugs (a variant) and two products, a tea sampler and 3 spoons."""
    shop.add_product(product(SPOON, "SPOON", 10))
    order = sample_order("order-new.json")
    mugs, tea = order["OrderItemList"]
    spoons = {**tea, "CatalogID": SPOON, "ItemIndexID": 3, "ItemID": "SPOON", "ItemQuantity": 3}
    shop.add_order(order | {"OrderID": 5003, "InvoiceNumber": 1003, "OrderItemList": [mugs, tea, spoons]})
    return shop


def stocks(emulator: ThreeDCartEmulator) -> tuple[int, int, int]:
    """(blue mugs, tea samplers, spoons) in stock."""
    tea, spoon = (emulator.product(catalog_id)["SKUInfo"]["Stock"] for catalog_id in (TEA, SPOON))
    return variant_stock(emulator, MUG, "11"), tea, spoon


def test_the_products_of_an_order_are_written_in_one_bulk_put(
    connector: ThreeDCart, basket: ThreeDCartEmulator
) -> None:
    result = connector.execute("deduct_stock", DeductStockArguments(order="AB-1003"), "key-1")
    assert stocks(basket) == (3, 3, 7)
    assert [line["done"] for line in result["stock"]] == ["5 -> 3", "4 -> 3", "10 -> 7"]
    # One request for both products, which is what the store's leaky bucket counts.
    assert basket.requests.count(("PUT", f"{API}/Products")) == 1
    assert basket.requests.count(("PUT", f"{API}/Products/{MUG}/AdvancedOptions/11")) == 1


def test_more_products_than_one_bulk_put_takes_are_split(
    connector: ThreeDCart, basket: ThreeDCartEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inventory, "PRODUCTS_PER_PUT", 1)
    connector.execute("deduct_stock", DeductStockArguments(order="AB-1003"), "key-1")
    assert stocks(basket) == (3, 3, 7)
    assert basket.requests.count(("PUT", f"{API}/Products")) == 2


def test_a_bulk_update_that_partly_fails_applies_the_rest_once(
    connector: ThreeDCart, basket: ThreeDCartEmulator
) -> None:
    basket.fail_product_update(SPOON, 409, "product is being edited")
    with pytest.raises(PermanentError) as refused:
        connector.execute("deduct_stock", DeductStockArguments(order="AB-1003"), "key-1")
    message = str(refused.value)
    assert "SPOON: product is being edited (status 409)" in message
    assert "the other lines: MUG-BLUE 5 -> 3, TEA-SAMPLER 4 -> 3" in message
    assert stocks(basket) == (3, 3, 10)  # the 206 applied the tea sampler, not the spoons
    # A person retries the dead letter: the written lines are read as done, only the spoons are written.
    again = connector.execute("deduct_stock", DeductStockArguments(order="AB-1003"), "key-1")
    assert [line["done"] for line in again["stock"]] == ["already applied", "already applied", "10 -> 7"]
    assert stocks(basket) == (3, 3, 7)


def test_a_bulk_item_refused_for_a_while_is_a_transient_failure(
    connector: ThreeDCart, basket: ThreeDCartEmulator
) -> None:
    basket.fail_product_update(TEA, 503, "try again later")
    with pytest.raises(TransientError, match=r"TEA-SAMPLER: try again later \(status 503\)"):
        connector.execute("deduct_stock", DeductStockArguments(order="AB-1003"), "key-1")
    assert stocks(basket) == (3, 4, 7)
    connector.execute("deduct_stock", DeductStockArguments(order="AB-1003"), "key-1")
    assert stocks(basket) == (3, 3, 7)


def test_a_bulk_update_whose_every_item_fails_names_each(connector: ThreeDCart, basket: ThreeDCartEmulator) -> None:
    basket.fail_product_update(TEA, 409, "locked")
    basket.fail_product_update(SPOON, 404, "No product found with the specified id")
    with pytest.raises(PermanentError) as refused:
        connector.execute("deduct_stock", DeductStockArguments(order="AB-1003"), "key-1")
    assert "TEA-SAMPLER: locked (status 409); SPOON: No product found" in str(refused.value)
    assert stocks(basket) == (3, 4, 10)


def test_a_stock_changed_by_someone_else_meanwhile_is_left_alone(
    connector: ThreeDCart, shop: ThreeDCartEmulator
) -> None:
    planned(connector, "key-1", StockLine("TEA-SAMPLER", TEA, "", Decimal(4), Decimal(3)))
    shop.add_product(product(TEA, "TEA-SAMPLER", 10))  # the merchant restocked before the retry
    take = AdjustStockArguments(order="AB-1001", sku="TEA-SAMPLER", change=-1)
    result = connector.execute("adjust_stock", take, "key-1")
    assert result["stock"][0]["done"] == "left alone: changed meanwhile to 10"
    assert shop.product(TEA)["SKUInfo"]["Stock"] == 10


def test_stock_never_goes_below_zero_unless_the_product_is_on_back_order(
    connector: ThreeDCart, shop: ThreeDCartEmulator
) -> None:
    take = AdjustStockArguments(order="AB-1001", sku="TEA-SAMPLER", change=-5)
    with pytest.raises(PermanentError, match=r"from 4 to -1.*back-order"):
        connector.execute("adjust_stock", take, "key-1")
    assert shop.product(TEA)["SKUInfo"]["Stock"] == 4
    assert shop.order(5001)["InternalComments"] == ""  # refused before anything was written
    shop.add_product(product(TEA, "TEA-SAMPLER", 4, control=2))  # the merchant allows back-orders
    connector.execute("adjust_stock", take, "key-2")
    assert shop.product(TEA)["SKUInfo"]["Stock"] == -1


@pytest.mark.parametrize(("policy", "allowed"), [("allow", True), ("refuse", False)])
def test_the_negative_stock_setting_overrides_the_store(
    make_connector: Callable[..., ThreeDCart], shop: ThreeDCartEmulator, policy: str, allowed: bool
) -> None:
    shop.add_product(product(TEA, "TEA-SAMPLER", 4, control=2))
    connector = make_connector(negative_stock=policy)
    take = AdjustStockArguments(order="AB-1001", sku="TEA-SAMPLER", change=-5)
    if allowed:
        connector.execute("adjust_stock", take, "key-1")
        assert shop.product(TEA)["SKUInfo"]["Stock"] == -1
    else:
        with pytest.raises(PermanentError, match="would go from 4 to -1"):
            connector.execute("adjust_stock", take, "key-1")


def test_a_variant_sku_needs_its_catalog_id_and_must_exist(connector: ThreeDCart, shop: ThreeDCartEmulator) -> None:
    with pytest.raises(PermanentError, match=r"no product with SKU 'MUG-RED'.*catalog_id"):
        connector.execute("adjust_stock", AdjustStockArguments(order="AB-1001", sku="MUG-RED", change=2), "k1")
    connector.execute(
        "adjust_stock", AdjustStockArguments(order="AB-1001", sku="MUG-RED", change=2, catalog_id=MUG), "k2"
    )
    assert variant_stock(shop, MUG, "12") == 5
    with pytest.raises(PermanentError, match="no variant with SKU 'MUG-GREEN'"):
        connector.execute(
            "adjust_stock", AdjustStockArguments(order="AB-1001", sku="MUG-GREEN", change=1, catalog_id=MUG), "k3"
        )


def test_skuinfo_and_product_reads_on_the_wire(shop: ThreeDCartEmulator, api_client: ThreeDCartClient) -> None:
    client = api_client
    assert client.get_rows("/Products/skuinfo", {"sku": "tea-sampler"}) == [shop.product(TEA)["SKUInfo"]]
    assert client.get_rows("/Products", {"countonly": 1}) == [{"TotalCount": 2}]
    assert client.get_rows("/Products", {"sku": "NOPE"}) == []  # 404 for no match


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=8),
            st.integers(0, 10**6),
            st.text(max_size=4),
            st.decimals(-1000, 1000, places=2),
            st.decimals(-1000, 1000, places=2),
        ),
        max_size=4,
    )
)
def test_the_journal_reads_back_what_was_written(items: list[tuple[str, int, str, Decimal, Decimal]]) -> None:
    lines = [StockLine(*item) for item in items if "\n" not in item[0] + item[2]]
    tag = "[cartwire 0123456789ab]"
    comments = f"earlier note\n{journal_text(lines)} {tag}\nlater note"
    assert read_journal(comments, tag) == lines
    assert read_journal(comments, "[cartwire other]") is None


def test_a_rule_deducting_stock_when_sezzle_captures_is_accepted_and_plans_the_call() -> None:
    rules = 'rule "shelf"\n  on sezzle.order.captured\n  then 3dcart.deduct_stock\nend\n'
    catalog = Catalog([ThreeDCart(ThreeDCartSettings()), Sezzle(SezzleSettings())])
    engine = compile_rules([parse_rules(rules, "t.rules")], catalog)
    [rule] = engine.rules_for("sezzle.order.captured")
    assert [(a.connector, a.name) for a in rule.actions] == [("3dcart", "deduct_stock")]
