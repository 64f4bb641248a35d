"""The RabbitMQ nodes that LIVESCORE_AMQP_URL and LIVESCORE_AMQP_MANAGEMENT_URL list (SPEC §11).

Either may list several nodes, comma-separated. An entry that is only `host:port` takes the scheme, user,
password and path of the first entry, so `amqp://u:p@rabbit-1:5672,rabbit-2:5672` means two nodes with
one account. (A comma inside a password is written `%2C`, as any reserved character in a URL.)
"""

from urllib.parse import SplitResult, urlsplit, urlunsplit


def node_urls(urls: str) -> list[str]:
    """The URLs of a comma-separated list, each whole: `host:port` entries take the first one's scheme,
    credentials and path."""
    entries = [entry.strip() for entry in urls.split(",") if entry.strip()]
    if not entries:
        return [urls]
    first = urlsplit(entries[0])
    return [entries[0]] + [_completed(entry, first) for entry in entries[1:]]


def _completed(entry: str, first: SplitResult) -> str:
    if "://" in entry:
        return entry
    host, _, path = entry.partition("/")
    credentials = first.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{host}" if credentials else host
    return urlunsplit((first.scheme, netloc, f"/{path}" if path else first.path, "", ""))


def masked(url: str) -> str:
    """The URL as it may be logged: its password replaced."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


def where(url: str) -> str:
    """host:port of a URL, as /ready and the log name a node."""
    return urlsplit(url).netloc.rpartition("@")[2]
