"""The pure graph helpers behind SagaWorkflow: readiness and compensation order."""

from __future__ import annotations

from workflows.saga_models import SagaStep, SagaTransaction
from workflows.saga_plan import ancestors, cascade_ready, descendants, ready_steps


def saga(*steps: tuple[str, list[str]]) -> SagaTransaction:
    return SagaTransaction(
        steps=[
            SagaStep(name, "agent-1", f"do-{name}", compensation=f"undo-{name}", depends_on=deps)
            for name, deps in steps
        ]
    )


# a ──► b ──► d
#  └──► c ──┘      e (independent)
DIAMOND = saga(("d", ["b", "c"]), ("b", ["a"]), ("c", ["a"]), ("a", []), ("e", []))


def test_ready_steps_are_those_whose_dependencies_all_completed_in_declaration_order() -> None:
    assert ready_steps(DIAMOND, completed=[], started=[]) == ["a", "e"]
    assert ready_steps(DIAMOND, completed=["a"], started=["a", "e"]) == ["b", "c"]
    assert ready_steps(DIAMOND, completed=["a", "b"], started=["a", "b", "c", "e"]) == []
    assert ready_steps(DIAMOND, completed=["a", "b", "c"], started=["a", "b", "c", "e"]) == ["d"]


def test_ancestors_and_descendants_are_transitive() -> None:
    assert ancestors(DIAMOND, "d") == {"a", "b", "c"}
    assert ancestors(DIAMOND, "a") == set()
    assert ancestors(DIAMOND, "e") == set()
    assert descendants(DIAMOND, "a") == {"b", "c", "d"}
    assert descendants(DIAMOND, "d") == set()


def test_cascade_compensates_a_step_only_after_every_dependent_in_scope() -> None:
    targets = ["a", "e", "c", "b"]  # completion order; d never completed
    assert cascade_ready(DIAMOND, targets, compensated=[], started=[]) == ["b", "c", "e"]
    assert cascade_ready(DIAMOND, targets, compensated=["b"], started=["b", "c", "e"]) == []
    started = ["b", "c", "e"]
    assert cascade_ready(DIAMOND, targets, compensated=["b", "c"], started=started) == ["a"]


def test_cascade_ignores_dependents_that_are_not_to_be_compensated() -> None:
    # b completed but has no compensation (not a target): it does not block a.
    assert cascade_ready(DIAMOND, ["a", "c"], compensated=[], started=[]) == ["c"]
    assert cascade_ready(DIAMOND, ["a"], compensated=[], started=[]) == ["a"]
