"""The suite's figures (issue #21, items 3 and 9): at least 60 hostile inputs, none answered with a 500, none
saved, each a 400 naming its field. Runs after the other abuse tests (named to sort last) and tries whatever part of
the catalogue they did not, so that it holds when run alone too; ``LS_STORAGE_ABUSE_SUMMARY`` writes the figures."""

from __future__ import annotations

import pytest
from hostile_inputs import GENERATED, OUTCOMES, figures, groups, run_group

pytestmark = pytest.mark.django_db


def test_the_figures_hostile_inputs_tried_500s_0_saved_0(world):
    done = {outcome["group"] for outcome in OUTCOMES.values()}
    for group in groups(world):
        if group not in done:
            run_group(world, group)

    found = figures()
    assert found["inputs"] >= 60
    assert found["status_500"] == 0, found["failures"]
    assert found["saved"] == 0, found["failures"]
    assert found["status_400_naming_the_field"] == found["inputs"], found["failures"]
    assert all(counts["status_500"] == 0 for counts in GENERATED.values()), GENERATED
