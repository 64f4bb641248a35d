"""The node lists of LIVESCORE_AMQP_URL and LIVESCORE_AMQP_MANAGEMENT_URL (SPEC §11)."""

import pytest

from domain.amqp_urls import masked, node_urls, where


def test_one_url_is_a_list_of_one() -> None:
    assert node_urls("amqp://u:p@rabbit:5672/") == ["amqp://u:p@rabbit:5672/"]


def test_every_node_of_a_comma_separated_list_is_kept_in_order() -> None:
    urls = "amqp://u:p@rabbit-1:5672/ , amqp://v:q@rabbit-2:5673/,"
    assert node_urls(urls) == ["amqp://u:p@rabbit-1:5672/", "amqp://v:q@rabbit-2:5673/"]


def test_a_host_and_port_entry_takes_the_first_url_s_scheme_account_and_path() -> None:
    urls = "amqp://u:p%2Cq@rabbit-1:5672/,rabbit-2:5673,rabbit-3:5674/Other"
    assert node_urls(urls) == [
        "amqp://u:p%2Cq@rabbit-1:5672/",
        "amqp://u:p%2Cq@rabbit-2:5673/",
        "amqp://u:p%2Cq@rabbit-3:5674/Other",
    ]


def test_management_urls_list_the_same_way() -> None:
    urls = "http://admin:secret@10.0.0.1:15672,10.0.0.2:15672"
    assert node_urls(urls) == ["http://admin:secret@10.0.0.1:15672", "http://admin:secret@10.0.0.2:15672"]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://u:secret@rabbit:5672/", "amqp://u:***@rabbit:5672/"),
        ("amqp://rabbit:5672/", "amqp://rabbit:5672/"),
    ],
)
def test_a_logged_url_hides_its_password(url: str, shown: str) -> None:
    assert masked(url) == shown
    assert where(url) == "rabbit:5672"
