"""The fast pass of the churn with faults: the controller SIGKILLed, then OpenBao down.

`make chaos` (`python -m bench.chaos`) runs every fault, longer, on a control
plane of its own and publishes the numbers; this pass runs the same code in
`make test` on the session's control plane, with the two faults that need no
restart of it. Nothing here is timed: every phase must lose, blank, roll back
and corrupt no key, and converge within the schedule's generous bound
(`FAST.converge_s`); how fast is the report's business.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bench import chaos, record, report

from secretloom.runtime.kube import KubeClient
from secretloom.testing import cluster as local

pytestmark = [pytest.mark.chaos, pytest.mark.openbao]


async def test_no_key_is_lost_blanked_or_rolled_back_through_a_controller_kill_and_an_outage(
    kube: KubeClient, cluster: local.Cluster, namespace: str, tmp_path: Path
) -> None:
    result = await chaos.run(
        kube=kube,
        cluster=cluster,
        namespace=namespace,
        scratch=tmp_path,
        schedule=chaos.FAST,
        log=print,  # shown when the test fails
    )

    assert [p.fault for p in result.phases] == ["none", "controller-kill", "openbao-down"]
    for phase in result.phases:
        assert phase.broken() == [], (phase.fault, phase.incidents)
        assert phase.propagation["count"] > 0, phase.fault  # the load ran, and was seen landing
    kill = result.phases[1]
    assert kill.changes_during_fault > 0  # the load went on while no controller ran

    samples, summary, targets = chaos.summarize(result)
    record.write(
        "chaos",
        out_dir=tmp_path,
        machine_info=record.machine(),
        versions={},
        parameters=chaos.FAST.json(),
        samples=samples,
        summary=summary,
        targets=targets,
    )
    table = report.chaos_table(record.load(tmp_path / "chaos.json"))
    assert "controller SIGKILLed, restarted 3s later" in table
    assert "OpenBao killed, restarted 3s later" in table
    assert [t.met for t in targets] == [True] * 5 + [None]  # no leader fault in this pass
