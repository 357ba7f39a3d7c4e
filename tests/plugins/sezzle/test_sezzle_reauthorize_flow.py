"""Reauthorize end to end over real HTTP: the authorization expires, a rule reauthorizes, the
shipped bookkeeping rule records the new Sezzle order on the store order, and the capture on
shipment goes to the new order, not the expired one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cartwire.demo import FIRST_SEZZLE_ORDER, demo_world, sample_order

# The merchant's own rule: an order put on hold after its authorization expired is reauthorized.
REAUTHORIZE_ON_HOLD = """
rule "reauthorize an order put on hold"
  on 3dcart.order.status_changed
  when order.status = Hold and order.payment_method = "Sezzle"
  then sezzle.reauthorize(order: order.sezzle_order, amount: order.total)
end
"""


def test_after_a_reauthorization_the_capture_goes_to_the_new_sezzle_order(tmp_path: Path) -> None:
    (tmp_path / "reauthorize.rules").write_text(REAUTHORIZE_ON_HOLD)
    with demo_world(tmp_path, extra_rules=[tmp_path / "reauthorize.rules"]) as world:
        world.sezzle.authorize_order("AB-1001", 10891, uuid=FIRST_SEZZLE_ORDER)
        world.store.place_order(sample_order("order-new.json"))
        world.settle()
        world.sezzle.advance(world.sezzle.auth_window + timedelta(minutes=1))  # the authorization expires

        world.store.set_status(5001, 6)  # Hold
        world.settle()
        [new_order] = [
            t["TransactionID"]
            for t in world.store.order(5001)["TransactionList"]
            if t["TransactionType"] == "Auth" and t["TransactionID"] != FIRST_SEZZLE_ORDER
        ]
        assert world.sezzle.order(new_order)["reference_id"] == "AB-1001"
        assert f"reauthorized the payment as order {new_order}" in world.store.order(5001)["InternalComments"]

        world.store.set_status(5001, 4)  # Shipped
        world.settle()
        assert [c["amount"]["amount_in_cents"] for c in world.sezzle.order(new_order)["captures"]] == [10891]
        assert world.sezzle.order(FIRST_SEZZLE_ORDER)["captures"] == []
        failed = [(a.connector, a.action, a.last_error) for a in world.runtime.store.actions("failed")]
        assert failed == []
        recorded = [(t["TransactionType"], t["TransactionID"]) for t in world.store.order(5001)["TransactionList"]]
        assert recorded[:2] == [("Auth", FIRST_SEZZLE_ORDER), ("Auth", new_order)]
