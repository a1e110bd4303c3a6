"""A worker module listing an extra workflow (ORCH_WORKER_MODULES)."""

from temporalio import workflow


@workflow.defn(name="EchoForWorkerModules")
class EchoWorkflow:
    @workflow.run
    async def run(self, text: str) -> str:
        return text


WORKFLOWS = [EchoWorkflow]
