"""The data an upgrade must carry over, made through n8n's own APIs on the old release and checked on
the new one (and on the way back): workflows with Code nodes, a credential, an active schedule, an
active webhook, and a history of executions.

The credential is an HTTP Header Auth credential guarding a webhook: a call with the right header runs
the workflow, a wrong one is refused with 403. That proves, without the internet, that n8n can still
decrypt the credential (stored encrypted with N8N_ENCRYPTION_KEY) after the change.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .n8n_api import ApiError, PublicApi, request
from .scenarios import (
    CODE_RESULT,
    _node,
    _workflow,
    call_webhook,
    first_call,
    ran_code,
    schedule_workflow,
    webhook_workflow,
)

NAME_PREFIX = "upgrade rehearsal"
CREDENTIAL_HEADER = "X-Rehearsal-Key"
SCHEDULE_SECONDS = 5


@dataclass
class Seeded:
    code_path: str  # webhook path of the Code-node workflow (the one the traffic calls)
    guarded_path: str  # webhook path guarded by the credential
    header_value: str  # the credential's secret header value
    schedule_id: str
    workflow_ids: list[str] = field(default_factory=list)
    execution_ids: list[str] = field(default_factory=list)  # ids the history calls returned


def _named(workflow: dict, what: str) -> dict:
    return {**workflow, "name": f"{NAME_PREFIX}: {what}"}


def guarded_workflow(path: str, credential_id: str) -> dict:
    hook = _node("Webhook", "n8n-nodes-base.webhook", 2, 0,
                 {"httpMethod": "POST", "path": path, "authentication": "headerAuth", "responseMode": "lastNode",
                  "options": {}},
                 webhookId=str(uuid.uuid4()),
                 credentials={"httpHeaderAuth": {"id": credential_id, "name": f"{NAME_PREFIX}: header"}})
    return _workflow("guarded", hook)


def seed(api: PublicApi, webhook_base: str, secret: str, executions: int, concurrency: int = 16) -> Seeded:
    """Create and activate the workflows, then run the Code-node webhook `executions` times."""
    credential = api.call("POST", "/credentials", {"name": f"{NAME_PREFIX}: header", "type": "httpHeaderAuth",
                                                   "data": {"name": CREDENTIAL_HEADER, "value": secret}})
    seeded = Seeded(f"upgrade-code-{uuid.uuid4().hex[:8]}", f"upgrade-guarded-{uuid.uuid4().hex[:8]}", secret, "")
    for what, workflow in (("Code node webhook", webhook_workflow(seeded.code_path)),
                           ("credential-guarded webhook", guarded_workflow(seeded.guarded_path, credential["id"])),
                           (f"schedule every {SCHEDULE_SECONDS} s", schedule_workflow(SCHEDULE_SECONDS))):
        wf = api.create_workflow(_named(workflow, what))
        api.activate(wf["id"])
        seeded.workflow_ids.append(wf["id"])
    seeded.schedule_id = seeded.workflow_ids[-1]
    url = f"{webhook_base}/webhook/{seeded.code_path}"
    first_call(url, 30)
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda _: call_webhook(url, 60), range(executions)))
    seeded.execution_ids = [str(r[0]["executionId"]) for r in results if r[0] and r[0].get("squares") == CODE_RESULT]
    if len(seeded.execution_ids) < executions:
        failed = next(r[1] for r in results if r[1])
        raise RuntimeError(f"seeding: {executions - len(seeded.execution_ids)} of {executions} calls failed: {failed}")
    return seeded


def code_webhook_works(webhook_base: str, seeded: Seeded) -> tuple[bool, str]:
    payload, error, seconds, _ = first_call(f"{webhook_base}/webhook/{seeded.code_path}", 60)
    if error is not None or payload is None or payload.get("squares") != CODE_RESULT:
        return False, f"failed: {error or payload}"
    return True, f"Code node answered {payload.get('squares')} in {seconds:.1f} s"


def credential_works(webhook_base: str, seeded: Seeded) -> tuple[bool, str]:
    url = f"{webhook_base}/webhook/{seeded.guarded_path}"
    right = _status(url, seeded.header_value)
    wrong = _status(url, "not-the-secret")
    ok = right == 200 and wrong == 403
    return ok, f"right header -> {right}, wrong header -> {wrong} (want 200 and 403)"


def _status(url: str, header_value: str) -> int | None:
    try:
        return request("POST", url, {"from": NAME_PREFIX}, {CREDENTIAL_HEADER: header_value}, timeout=60)[0]
    except ApiError as err:
        return err.status


def history_intact(api: PublicApi, seeded: Seeded) -> tuple[bool, str]:
    """The first, middle and last seeded executions still read back with their Code node's output."""
    ids = seeded.execution_ids
    sample = sorted({ids[0], ids[len(ids) // 2], ids[-1]}, key=int)
    readable = [i for i in sample if ran_code(api.execution(i))]
    ok = readable == sample
    return ok, f"executions {', '.join(sample)}: {len(readable)} of {len(sample)} read back with their Code output"
