"""The test servers' ports: free, and out of the range the kernel gives outgoing connections."""

import socket

import pytest

from tests.conftest import FIRST_CHOSEN_PORT, ephemeral_ports_start, free_port


@pytest.mark.skipif(ephemeral_ports_start() <= FIRST_CHOSEN_PORT, reason="no Linux ephemeral port range to stay below")
def test_a_chosen_port_is_free_and_below_the_ephemeral_range():
    low = ephemeral_ports_start()
    ports = {free_port() for _ in range(20)}
    assert all(FIRST_CHOSEN_PORT <= port < low for port in ports)
    assert len(ports) > 1  # chosen at random: two servers started together rarely get the same one
    for port in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # still free
