"""The appraisal_outcome decision table (E-2) as the engine evaluates it: every rule row,
each threshold on both sides, an appraisal without owners' ratings, and the first matching
row winning (penalties before rewards)."""

from __future__ import annotations

import shutil

import pytest
from lxml import etree

from engine import InstanceStatus, ManualClock, WorkflowEngine, make_engine
from tests.conftest import BPMN_DIR, FIXTURES, read_files

DMN = BPMN_DIR / "appraisal_outcome.dmn"
NS = {"dmn": "https://www.omg.org/spec/DMN/20191111/MODEL/"}
# A clean month: no rule applies.
PLAIN = {"score": 75, "deadlines_missed": 0, "average_score": 4.0, "complaints": 0, "inspections_failed": 0,
         "rectifications_overdue": 0}


def rule_reasons() -> dict[str, str]:
    """Each rule row's id by the reason it gives (the reason names the row)."""
    table = etree.parse(str(DMN)).getroot()
    return {rule.findall("dmn:outputEntry/dmn:text", NS)[2].text.strip('"'): rule.get("id")
            for rule in table.iterfind(".//dmn:rule", NS)}


CASES = [  # changes to PLAIN, then the expected rule row, proposal and measure
    ({"score": 39}, "Demerit", "penalty", "demerit"),
    ({"score": 40}, "LowScore", "penalty", "warning"),
    ({"score": 59}, "LowScore", "penalty", "warning"),
    ({"score": 60}, "None", "none", None),
    ({"deadlines_missed": 3}, "MissedDeadlines", "penalty", "warning"),
    ({"deadlines_missed": 2}, "None", "none", None),
    ({"complaints": 2}, "Complaints", "penalty", "warning"),
    ({"complaints": 1}, "None", "none", None),
    ({"inspections_failed": 2}, "FailedChecks", "penalty", "warning"),
    ({"inspections_failed": 1}, "None", "none", None),
    ({"rectifications_overdue": 2}, "OverdueRectifications", "penalty", "warning"),
    ({"rectifications_overdue": 1}, "None", "none", None),
    ({"score": 90}, "Bonus", "reward", "bonus"),
    ({"score": 89}, "None", "none", None),
    ({"score": 90, "deadlines_missed": 1}, "None", "none", None),
    ({"score": 90, "complaints": 1}, "None", "none", None),
    ({"score": 100, "average_score": None}, "Bonus", "reward", "bonus"),  # no ratings: a bonus all the same
    ({"score": 80, "average_score": 4.5}, "Commendation", "reward", "commendation"),
    ({"score": 79, "average_score": 4.5}, "None", "none", None),
    ({"score": 80, "average_score": 4.49}, "None", "none", None),
    ({"score": 85, "average_score": 4.8, "complaints": 1}, "None", "none", None),
    ({"score": 85, "average_score": 4.8, "deadlines_missed": 2}, "Commendation", "reward", "commendation"),
    ({"score": 85, "average_score": None}, "None", "none", None),  # no ratings: no commendation
    ({"score": 30, "average_score": None}, "Demerit", "penalty", "demerit"),
    # First hit: a penalty row above wins over a reward row below, the worse penalty first.
    ({"score": 95, "deadlines_missed": 3}, "MissedDeadlines", "penalty", "warning"),
    ({"score": 85, "average_score": 4.8, "complaints": 2}, "Complaints", "penalty", "warning"),
    ({"score": 30, "deadlines_missed": 5, "complaints": 4}, "Demerit", "penalty", "demerit"),
    ({"score": 95, "average_score": 5.0}, "Bonus", "reward", "bonus"),  # bonus above commendation
]


@pytest.fixture(scope="module")
def decide(tmp_path_factory, sqlite_template):
    """Evaluate the table through the engine (the decision does not depend on the database)."""
    path = tmp_path_factory.mktemp("outcome") / "outcome.db"
    shutil.copy(sqlite_template, path)
    sa_engine = make_engine(f"sqlite:///{path}")
    engine = WorkflowEngine(sa_engine, ManualClock())
    engine.deploy({"probe.bpmn": (FIXTURES / "appraisal_outcome_probe.bpmn").read_bytes(),
                   **read_files("appraisal_outcome.dmn")}, name="outcome")

    def run(facts: dict) -> dict:
        done = engine.start("appraisal_outcome_probe", facts)
        assert done.status == InstanceStatus.COMPLETED
        return done.variables

    yield run
    sa_engine.dispose()


@pytest.mark.parametrize(("changes", "rule", "proposal", "measure"), CASES,
                         ids=[f"{c[1]}-{'-'.join(f'{k}={v}' for k, v in c[0].items())}" for c in CASES])
def test_rule(decide, changes, rule, proposal, measure):
    found = decide({**PLAIN, **changes})
    assert (rule_reasons()[found["reason"]], found["proposal"], found["measure"]) == (
        f"DecisionRule_{rule}", proposal, measure)


def test_every_row_is_tested_and_gives_a_bilingual_reason():
    reasons = rule_reasons()
    assert {f"DecisionRule_{rule}" for _, rule, _, _ in CASES} == set(reasons.values())
    for reason in reasons:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in reason) and any(ch.isascii() and ch.isalpha()
                                                                         for ch in reason)


def test_the_table_is_first_hit_so_its_order_matters():
    table = etree.parse(str(DMN)).getroot().find(".//dmn:decisionTable", NS)
    assert table.get("hitPolicy") == "FIRST"
    order = [rule.get("id") for rule in table.iterfind("dmn:rule", NS)]
    assert order.index("DecisionRule_Demerit") < order.index("DecisionRule_LowScore")
    penalties = ("LowScore", "MissedDeadlines", "Complaints", "FailedChecks", "OverdueRectifications")
    rewards = [order.index(f"DecisionRule_{r}") for r in ("Bonus", "Commendation", "None")]
    assert max(order.index(f"DecisionRule_{r}") for r in penalties) < rewards[0]
    assert rewards == sorted(rewards)
