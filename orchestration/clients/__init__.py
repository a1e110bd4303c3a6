"""The Python clients of the quick reference: ``SagaOrchestrator`` (:mod:`.saga`),
``SwarmOrchestrator`` (:mod:`.swarm`) and ``Pipeline`` (:mod:`.pipeline`), each starting
and following its workflow on Temporal through :class:`.workflow_client.WorkflowClient`;
:mod:`.ui_summaries` writes what the Web UI shows of a run. Import them from
``orchestration``."""
