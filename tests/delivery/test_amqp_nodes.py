"""Which RabbitMQ node is tried when (delivery/amqp_nodes.py); moving between real nodes is in
tests/amqp/test_cluster.py."""

from delivery.amqp_nodes import NodeOrder


def test_after_a_node_is_lost_the_nodes_after_it_are_tried_first_and_it_last() -> None:
    order = NodeOrder(["a", "b", "c"])
    assert order.from_current() == [0, 1, 2]
    order.current = 1
    assert order.after_current() == [2, 0, 1]
    assert order.from_current() == [1, 2, 0]
