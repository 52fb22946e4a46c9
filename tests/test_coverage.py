"""The model-free context coverage measure: what counts as a name the completion needs from other files."""

from nanocomplete.evals.coverage import needed_names
from nanocomplete.evals.tasks import Example


def test_needed_names_are_defined_in_the_package_and_missing_from_the_file():
    example = Example(
        id="x",
        prefix="from shop.cart import Cart\n\ncart = Cart()\nitems = []\n",
        suffix="\nprint(total)\n",
        reference="total = cart.checkout_total(len(items), currency=DEFAULT_CURRENCY)",
        language="python",
    )
    defined = {"Cart", "checkout_total", "DEFAULT_CURRENCY", "items"}
    # `cart`, `total` are in the file, `len` and `currency` are not the package's, `id` is too short
    assert needed_names(example, defined) == ["checkout_total", "DEFAULT_CURRENCY"]
