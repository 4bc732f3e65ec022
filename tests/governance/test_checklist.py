"""The checklist registry: every item a gated stage lists is a registered function, and another
domain adds an item by registering one, without editing a dispatcher."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tandem.governance.gates.checklist import CHECKLIST, ItemContext, evaluate, item
from tandem.governance.gates.models import CHECKLISTS, Item
from tandem.governance.plan.models import GATED_STAGES
from tandem.registry.models import Stage


def test_every_gated_stage_lists_registered_items_ending_with_the_sign_offs() -> None:
    assert set(CHECKLISTS) == set(GATED_STAGES)
    for keys in CHECKLISTS.values():
        assert all(key in CHECKLIST for key in keys)
        assert keys[-1] == Item.SIGN_OFFS  # the project's own items go before it
    assert set(CHECKLIST) >= {i.value for i in Item}


def test_a_new_item_is_registered_once_and_evaluated_in_order() -> None:
    @item("drift-monitor", "A drift monitor watches the version")
    def drift_monitor(ctx: ItemContext) -> tuple[bool, str, list[str]]:
        return ctx.to is Stage.PRODUCTION, f"for {ctx.project}", ["monitors/m-1"]

    try:
        with pytest.raises(ValueError, match="registered already"):
            item("drift-monitor", "again")(drift_monitor)
        context = SimpleNamespace(to=Stage.PRODUCTION, project="churn")
        [checked] = evaluate(["drift-monitor"], context)  # type: ignore[arg-type]
        assert checked.model_dump() == {
            "key": "drift-monitor",
            "title": "A drift monitor watches the version",
            "holds": True,
            "detail": "for churn",
            "evidence": ["monitors/m-1"],
        }
    finally:
        del CHECKLIST["drift-monitor"]
