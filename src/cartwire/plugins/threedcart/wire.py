"""Pydantic models of 3dcart's JSON, field for field as on the wire.

Field names keep 3dcart's spelling (`OrderStatusID`) so a validation error names the field as it
appears in the payload. Only `OrderID` and `OrderStatusID` are required: older stores omit newer
fields, and 3dcart writes `null` where a string or number is usually `""` or `0`. Dates stay
strings here; reading them needs the store's time zone (see `dates.py`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from cartwire.core.money import check_amount


def _no_bool(value: Any) -> Any:
    """`true` is not order 1: pydantic would read a JSON boolean as an integer."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not true or false")
    return value


def _or(empty: Any) -> BeforeValidator:
    return BeforeValidator(lambda value: empty if value is None else value)


Text = Annotated[str, _or("")]
# Finite and small enough for Money, so an absurd amount is refused at the edge, naming its field.
Number = Annotated[Decimal, _or(Decimal(0)), AfterValidator(check_amount)]
# 3dcart's IDs are database integers; the bound turns a 5000-digit ID into an error naming its field.
Id = Annotated[int, BeforeValidator(_no_bool), Field(ge=-(2**63), le=2**63 - 1)]  # a 64-bit integer
Int = Annotated[Id, _or(0)]
# An order's own ID: 3dcart numbers orders from 1, so 0 or -5 is refused naming the field.
OrderId = Annotated[int, BeforeValidator(_no_bool), Field(ge=1, le=2**63 - 1)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, coerce_numbers_to_str=True)


class WireShipment(_Wire):
    ShipmentID: Int = 0
    ShipmentLastUpdate: Text = ""
    ShipmentOrderStatus: Int = 0
    ShipmentFirstName: Text = ""
    ShipmentLastName: Text = ""
    ShipmentCompany: Text = ""
    ShipmentAddress: Text = ""
    ShipmentAddress2: Text = ""
    ShipmentCity: Text = ""
    ShipmentState: Text = ""
    ShipmentZipCode: Text = ""
    ShipmentCountry: Text = ""
    ShipmentPhone: Text = ""
    ShipmentEmail: Text = ""
    ShipmentCost: Number = Decimal(0)
    ShipmentTax: Number = Decimal(0)
    ShipmentMethodName: Text = ""
    ShipmentShippedDate: Text = ""
    ShipmentTrackingCode: Text = ""


# The ship-to fields of a shipment, copied onto a further shipment of the same order.
SHIP_TO_FIELDS = tuple(
    f"Shipment{name}"
    for name in (
        "FirstName", "LastName", "Company", "Address", "Address2", "City", "State", "ZipCode", "Country", "Phone",
        "Email",
    )
)  # fmt: skip


class WireItem(_Wire):
    CatalogID: Int = 0
    ItemIndexID: Int = 0
    ItemID: Text = ""
    ItemQuantity: Number = Decimal(0)
    ItemDescription: Text = ""
    ItemUnitPrice: Number = Decimal(0)
    ItemUnitStock: Number = Decimal(0)
    ItemDateAdded: Text = ""


class WireTransaction(_Wire):
    TransactionIndexID: Int = 0
    OrderID: Int = 0
    TransactionID: Text = ""
    TransactionDateTime: Text = ""
    TransactionType: Text = ""
    TransactionMethod: Text = ""
    TransactionAmount: Number = Decimal(0)
    TransactionResponseText: Text = ""
    TransactionCaptured: Int = 0


class WireOrder(_Wire):
    OrderID: OrderId
    OrderStatusID: Id
    InvoiceNumberPrefix: Text = ""
    InvoiceNumber: Int = 0
    CustomerID: Int = 0
    OrderDate: Text = ""
    LastUpdate: Text = ""
    BillingFirstName: Text = ""
    BillingLastName: Text = ""
    BillingCompany: Text = ""
    BillingAddress: Text = ""
    BillingAddress2: Text = ""
    BillingCity: Text = ""
    BillingState: Text = ""
    BillingZipCode: Text = ""
    BillingCountry: Text = ""
    BillingPhoneNumber: Text = ""
    BillingEmail: Text = ""
    BillingPaymentMethod: Text = ""
    ShipmentList: list[WireShipment] = Field(default_factory=list)
    OrderItemList: list[WireItem] = Field(default_factory=list)
    TransactionList: list[WireTransaction] = Field(default_factory=list)
    OrderDiscount: Number = Decimal(0)
    SalesTax: Number = Decimal(0)
    SalesTax2: Number = Decimal(0)
    SalesTax3: Number = Decimal(0)
    OrderAmount: Number = Decimal(0)
    InternalComments: Text = ""

    @property
    def invoice(self) -> str:
        """The invoice number as the store shows it: prefix + number (`AB-1001`)."""
        return f"{self.InvoiceNumberPrefix}{self.InvoiceNumber}"


class WireSkuInfo(_Wire):
    """A product's `SKUInfo` (also what `GET /Products/skuinfo` answers)."""

    CatalogID: int
    SKU: Text = ""
    Name: Text = ""
    Cost: Number = Decimal(0)
    Price: Number = Decimal(0)
    RetailPrice: Number = Decimal(0)
    SalePrice: Number = Decimal(0)
    OnSale: bool = False
    Stock: Number = Decimal(0)


class WireAdvancedOption(_Wire):
    """A variant (`AdvancedOptionList[]`); `AdvancedOptionSufix` is spelled as 3dcart spells it."""

    AdvancedOptionCode: Text = ""
    AdvancedOptionSufix: Text = ""
    AdvancedOptionName: Text = ""
    AdvancedOptionStock: Number = Decimal(0)
    AdvancedOptionPrice: Number = Decimal(0)


class WireProduct(_Wire):
    SKUInfo: WireSkuInfo
    InventoryControl: Int = -1
    AdvancedOptionList: list[WireAdvancedOption] = Field(default_factory=list)


class WireCustomer(_Wire):
    CustomerID: int
    Email: Text = ""
    BillingFirstName: Text = ""
    BillingLastName: Text = ""
    CustomerGroupID: Int = 0
    Enabled: bool = True


class WireCustomerGroup(_Wire):
    """A row of `GET /CustomerGroups`; the name's field is undocumented, so any known spelling is read."""

    CustomerGroupID: int
    Name: Text = ""
    GroupName: Text = ""
    CustomerGroupName: Text = ""

    @property
    def label(self) -> str:
        return (self.Name or self.GroupName or self.CustomerGroupName).strip()


class WireStoreStandards(_Wire):
    StoreTimeZone: Text = ""
    CurrencyCode: Text = ""
    CurrencySymbol: Text = ""


class WireStoreSettings(_Wire):
    """`GET /StoreSettings`; only the part Cartwire reads."""

    StoreStandards: WireStoreStandards | None = None


class WireStatus(_Wire):
    """One row of the store's status table (`GET /OrderStatus`)."""

    OrderStatusID: Id
    StatusText: Text = ""
    StatusDefinition: Text = ""

    @property
    def label(self) -> str:
        return self.StatusText or self.StatusDefinition


class WireResult(_Wire):
    """One element of the array 3dcart answers writes with (`Status` is a string on the wire)."""

    Key: Text = ""
    Value: Text = ""
    Status: Text = ""
    Message: Text = ""

    @property
    def ok(self) -> bool:
        return self.Key != "Error" and self.Status.strip().isdigit() and 200 <= int(self.Status) < 300
