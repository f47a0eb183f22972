"""The sandbox RPC client on a real broker whose connection went away."""

import pytest

from contracts.messages import MetricsCall, envelope
from shared.messaging.bus import Bus
from shared.messaging.rpc import RpcClient, RpcUnavailable
from shared.messaging.topology import Topology
from tests.support import AMQP_URL, Isolation

pytestmark = pytest.mark.integration


async def test_a_call_while_the_broker_is_gone_is_a_platform_failure(
    isolation: Isolation,
) -> None:
    """Found by the chaos suite under load: during a broker restart the grading step's
    calls failed with the channel's own error, which scoring took for a failed test and
    graded a right program 0. It must be a platform failure, so the step is retried."""
    topology = Topology(isolation.namespace)
    bus = Bus(AMQP_URL, topology)
    await bus.connect()
    client = RpcClient(bus, topology.sandbox_rpc_queue)
    await client.start()
    await bus.close()  # as when the broker restarts under it

    with pytest.raises(RpcUnavailable, match="unreachable"):
        await client.call(envelope(MetricsCall(), submission_id=0, attempt=0), timeout_s=5)
