"""A small inventory module, half written: try `nanocomplete complete examples/inventory.py --line 33 --col 34`."""

from dataclasses import dataclass, field


@dataclass
class Item:
    sku: str
    name: str
    price_cents: int
    quantity: int = 0


@dataclass
class Inventory:
    items: dict[str, Item] = field(default_factory=dict)

    def add(self, item: Item) -> None:
        if item.sku in self.items:
            raise ValueError(f"duplicate SKU: {item.sku}")
        self.items[item.sku] = item

    def remove(self, sku: str) -> Item:
        return self.items.pop(sku)

    def restock(self, sku: str, quantity: int) -> None:
        self.items[sku].quantity += quantity

    def total_value_cents(self) -> int:
        return sum(item.price_cents * item.quantity for item in self.items.values())

    def low_stock(self, threshold: int = 5) -> list[Item]:
        return [item for item in 
