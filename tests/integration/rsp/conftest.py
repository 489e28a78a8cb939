"""The RSP simulator (tests/harness/rspsim) in both layouts, one per module of tests (two services, one process each)."""

import pytest

from harness.rspsim import RspSimulator


@pytest.fixture(scope="module")
def rspsims():
    with RspSimulator("runbook") as runbook, RspSimulator("rsp_code") as code:
        yield {"runbook": runbook, "rsp_code": code}


@pytest.fixture(params=["runbook", "rsp_code"])
def rspsim(request, rspsims):
    sim = rspsims[request.param]
    sim.fault()
    yield sim
    sim.fault()
