import pytest
from pydantic import BaseModel

from cartwire.core.catalog import Catalog
from cartwire.core.events import EventType
from cartwire.plugins.connector import Connector


class Item(BaseModel):
    sku: str


def test_two_connectors_declaring_one_event_type_are_an_error():
    def connector(connector_name: str) -> Connector:
        class Declares(Connector):
            name = connector_name

            def event_types(self):
                return [EventType("shop.order.created", "order", Item)]

        return Declares(Declares.Settings())

    with pytest.raises(ValueError, match=r"'shop\.order\.created' is declared by both one and two"):
        Catalog([connector("one"), connector("two")])
