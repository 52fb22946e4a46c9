/** The files the end-to-end test edits: small realistic Python modules and one of 2,000 lines. */

import * as fs from "node:fs";
import * as path from "node:path";

export const INVENTORY = `"""Inventory: items in stock, priced in cents."""

from dataclasses import dataclass


@dataclass
class Item:
    name: str
    price_cents: int
    quantity: int


def total_cents(items: list[Item]) -> int:
    """What the whole stock is worth."""
    return sum(item.price_cents * item.quantity for item in items)


def in_stock(items: list[Item]) -> list[Item]:
    """The items with a positive quantity."""
    return [item for item in items if item.quantity > 0]


def most_expensive(items: list[Item]) -> Item:
    """The item with the highest price."""
`;

export const PRICING = `"""Prices: discounts and taxes, all in cents."""


def apply_discount(price_cents: int, percent: int) -> int:
    """The price after a discount of \`percent\` percent."""
    return price_cents - price_cents * percent // 100


def add_tax(price_cents: int, tax_percent: int) -> int:
    """The price with tax added, rounded down."""
`;

/** A Jest test file: the editor auto-closes \`('\` as the user types \`describe('sum\` at its end. */
export const SUM_TEST = `const { sum, sumPrices } = require('./sum');

describe('sum', () => {
  it('adds two numbers', () => {
    expect(sum(1, 2)).toBe(3);
  });
});

`;

export const BIG_FILE_LINES = 2_000;

const BIG_HEADER = `"""Order totals for every kind of order (generated: ${BIG_FILE_LINES} lines)."""

from dataclasses import dataclass, field


@dataclass
class Line:
    sku: str
    price_cents: int
    quantity: int


@dataclass
class Order:
    lines: list[Line] = field(default_factory=list)
    discount_percent: int = 0

`;

function bigBlock(i: number): string[] {
  return [
    "",
    `def order_total_${i}(order: Order) -> int:`,
    `    """Total of an order of kind ${i}, in cents."""`,
    "    subtotal = sum(line.price_cents * line.quantity for line in order.lines)",
    `    discount = subtotal * ${(i * 7) % 30} // 100`,
    `    shipping = 0 if subtotal > ${1_000 + 10 * i} else 499`,
    "    return subtotal - discount + shipping",
    "",
  ];
}

/** A 2,000-line module; returns the 1-based number of a blank line between functions near the middle. */
function bigFile(): { text: string; middleBlankLine: number } {
  const lines = BIG_HEADER.split("\n");
  let middleBlankLine = 0;
  for (let i = 0; lines.length < BIG_FILE_LINES; i++) {
    if (!middleBlankLine && lines.length >= BIG_FILE_LINES / 2) middleBlankLine = lines.length + 1;
    lines.push(...bigBlock(i));
  }
  return { text: lines.slice(0, BIG_FILE_LINES).join("\n") + "\n", middleBlankLine };
}

export function writeWorkspace(root: string): { bigMiddleLine: number } {
  fs.mkdirSync(root, { recursive: true });
  fs.writeFileSync(path.join(root, "inventory.py"), INVENTORY);
  fs.writeFileSync(path.join(root, "pricing.py"), PRICING);
  fs.writeFileSync(path.join(root, "sum.test.js"), SUM_TEST);
  const big = bigFile();
  fs.writeFileSync(path.join(root, "orders.py"), big.text);
  return { bigMiddleLine: big.middleBlankLine };
}
