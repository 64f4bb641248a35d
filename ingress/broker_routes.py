"""The four questions RabbitMQ's HTTP auth backend asks (`auth_http.http_method = post`): form fields in,
`allow …` or `deny` out with HTTP 200. The rules are domain/broker_access.py's.

Fields (RabbitMQ 3.10): user `username`, `password`; vhost `username`, `vhost`, `ip`, `tags`; resource
`username`, `vhost`, `resource`, `name`, `permission`, `tags`; topic the resource's plus `routing_key`.
"""

from typing import Any
from urllib.parse import parse_qsl

from litestar import MediaType, Request, Router, post
from litestar.exceptions import ClientException

from domain.broker_access import ALLOW, DENY, allow_login, may_use, proven_packages
from ingress.amqp_logins import AmqpLogins
from ingress.metrics import AMQP_LOGINS
from ingress.routes import read_body

# RabbitMQ sends at most six fields; a body with many more is not RabbitMQ's.
MAX_FIELDS = 16


async def form_of(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The form's fields (the last of a repeated one); a field left out reads as empty."""
    body = (await read_body(request)).decode("ascii", errors="replace")
    try:
        return dict(parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FIELDS))
    except ValueError:
        raise ClientException("too many form fields") from None


def answer(allowed: bool) -> str:
    return ALLOW if allowed else DENY


@post("/user", status_code=200, media_type=MediaType.TEXT)
async def user(request: Request[Any, Any, Any]) -> str:
    """`allow`, tagged with the packages the password proved: whether it proved any is decided at the
    vhost step, where the client's address is known (ingress/amqp_logins.py)."""
    form = await form_of(request)
    username, password = form.get("username", ""), form.get("password", "")
    if not username or not password:
        return DENY  # no package has empty credentials: says nothing about anyone's password
    logins: AmqpLogins = request.app.state.logins
    return allow_login(await logins.prove(username, password))


@post("/vhost", status_code=200, media_type=MediaType.TEXT)
async def vhost(request: Request[Any, Any, Any]) -> str:
    form = await form_of(request)
    proven = proven_packages(form.get("tags", ""))
    if form.get("vhost", "") not in request.app.state.vhosts:
        return DENY  # not one of the feed's vhosts: no customer's login is counted or let in there
    logins: AmqpLogins = request.app.state.logins
    allowed = await logins.may_enter(form.get("username", ""), form.get("ip", ""), proven)
    AMQP_LOGINS.labels("allowed" if allowed else "denied").inc()
    return answer(allowed)


@post("/resource", status_code=200, media_type=MediaType.TEXT)
async def resource(request: Request[Any, Any, Any]) -> str:
    form = await form_of(request)
    allowed = may_use(
        form.get("vhost", ""),
        form.get("resource", ""),
        form.get("name", ""),
        form.get("permission", ""),
        proven_packages(form.get("tags", "")),
        request.app.state.vhosts,
    )
    return answer(allowed)


@post("/topic", status_code=200, media_type=MediaType.TEXT)
async def topic() -> str:
    """Topic permissions concern publishing to topic exchanges, which customers never do."""
    return DENY


broker_auth_router = Router(path="/auth", route_handlers=[user, vhost, resource, topic])
