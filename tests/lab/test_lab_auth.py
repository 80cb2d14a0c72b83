"""Every handler the extension registers requires authentication (checked two ways)."""
from __future__ import annotations

import inspect

import pytest
import tornado.web

from mlsec.lab import handlers

HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")
_AUTHENTICATED_CODE = tornado.web.authenticated(lambda self: None).__code__


def mlsec_routes(serverapp) -> list[tuple[str, type]]:
    """(pattern, handler class) of every route whose handler lives in mlsec.lab."""
    found = []

    def walk(router):
        for rule in getattr(router, "rules", []):
            target = rule.target
            if isinstance(target, type) and issubclass(target, tornado.web.RequestHandler):
                if target.__module__.startswith("mlsec."):
                    found.append((rule.matcher.regex.pattern, target))
            elif hasattr(target, "rules"):
                walk(target)

    walk(serverapp.web_app.wildcard_router)
    walk(serverapp.web_app.default_router)
    return found


def own_methods(cls: type) -> list[str]:
    """HTTP methods the class (or an mlsec base) defines, not tornado's/jupyter_server's defaults."""
    names = []
    for name in HTTP_METHODS:
        for klass in cls.__mro__:
            if name in vars(klass):
                if klass.__module__.startswith("mlsec."):
                    names.append(name)
                break
    return names


def test_extension_registers_its_routes(jp_serverapp):
    routes = mlsec_routes(jp_serverapp)
    classes = {cls for _, cls in routes}
    assert {handlers.LintHandler, handlers.RulesHandler} <= classes
    assert len(routes) >= 3


def test_every_method_is_wrapped_in_authenticated(jp_serverapp):
    routes = mlsec_routes(jp_serverapp)
    checked = 0
    for pattern, cls in routes:
        methods = own_methods(cls)
        assert methods, f"{cls.__name__} at {pattern} defines no HTTP method"
        for name in methods:
            fn = getattr(cls, name)
            assert fn.__code__ is _AUTHENTICATED_CODE, f"{cls.__name__}.{name} ({pattern}) is not @authenticated"
            inner = inspect.unwrap(fn)
            assert inner is not fn
            checked += 1
    assert checked >= 3


async def test_every_route_refuses_anonymous_calls(jp_serverapp, http_server_client):
    routes = mlsec_routes(jp_serverapp)
    calls = 0
    for pattern, cls in routes:
        # turn the route regex into a concrete URL: named groups get a plausible value
        url = pattern.rstrip("$")
        import re

        url = re.sub(r"\(\?P<\w+>[^)]*\)", "MLS101", url)
        for name in own_methods(cls):
            method = name.upper()
            body = b"{}" if method in ("POST", "PUT", "PATCH") else None
            r = await http_server_client.fetch(
                url, method=method, body=body, raise_error=False, follow_redirects=False,
                allow_nonstandard_methods=True,
            )
            assert r.code == 403, f"{method} {url} answered {r.code} without a token"
            calls += 1
    assert calls >= 3


@pytest.mark.parametrize("cls", [handlers.LintHandler, handlers.RulesHandler])
def test_handlers_are_api_handlers_with_authorization(cls):
    from jupyter_server.base.handlers import APIHandler

    assert issubclass(cls, APIHandler)
    assert cls.auth_resource == "contents"
