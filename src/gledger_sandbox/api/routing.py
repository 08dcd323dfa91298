"""Connexion's routing of the spec's paths, trying only the routes the path's start allows.

Connexion mounts one Starlette ``Route`` per path and method of the spec, and Starlette tries
them in order until one matches: about 40 regex matches per request on this spec. A route whose
first two segments are literal (``/v1/entries/{entry_id}``) can only match a path that starts
with those two segments, so :class:`SegmentRouter` tries only those routes, and the routes with
a parameter among their first two segments, in their original order: the same route wins as
before (first full match; else the first partial one, a 405; else the slash redirect; else the
default), from the same routes connexion built from the spec.

Connexion's Swagger UI middleware routes every request through its own router (a mount, its
half a dozen routes, then the slash-redirect attempt: a scope copy and the routes again) only
to hand the API's requests on. :class:`SwaggerUIOnItsPaths` hands on at once a request whose
path cannot reach any of its routes.
"""

from __future__ import annotations

from typing import Any

from connexion.middleware.routing import RoutingMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from starlette._utils import get_route_path
from starlette.datastructures import URL
from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import Receive, Scope, Send

Candidates = dict[str, list[BaseRoute]]


def leading_segments(path: str) -> str | None:
    """``v1/entries`` of ``/v1/entries/en_1`` (the first two segments, as they are written);
    None for a path that does not start with a slash."""
    return "/".join(path.split("/", 3)[1:3]) if path.startswith("/") else None


def _literal_start(route: BaseRoute) -> str | None:
    """The leading segments of every path this route matches (after them its format has a
    slash or ends); None when they may vary (a parameter, or not a plain ``Route``)."""
    if type(route) is not Route:
        return None
    start = leading_segments(route.path_format)
    return None if start is None or "{" in start else start


def _by_start(routes: list[BaseRoute]) -> tuple[Candidates, list[BaseRoute]]:
    """Per literal start, the routes that may match a path with it; and those for any other."""
    starts = {_literal_start(route) for route in routes}
    candidates: Candidates = {start: [] for start in starts if start is not None}
    anywhere: list[BaseRoute] = []
    for route in routes:
        segment = _literal_start(route)
        for key, tried in candidates.items():
            if segment is None or segment == key:
                tried.append(route)
        if segment is None:
            anywhere.append(route)
    return candidates, anywhere


class SegmentRouter(Router):
    """A Starlette ``Router`` that tries, of its routes, only those the path's first two
    segments allow (in their order); everything else is Starlette's own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._indexed: tuple[int, Candidates, list[BaseRoute]] | None = None

    def _candidates(self, path: str) -> list[BaseRoute]:
        segment = leading_segments(path)
        if segment is None:
            return self.routes
        indexed = self._indexed
        if indexed is None or indexed[0] != len(self.routes):  # routes added since
            indexed = self._indexed = (len(self.routes), *_by_start(self.routes))
        return indexed[1].get(segment, indexed[2])

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = self
        route_path = get_route_path(scope)
        routes = self._candidates(route_path)
        partial: tuple[BaseRoute, Scope] | None = None
        for route in routes:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:
                partial = (route, child_scope)
        if partial is not None:  # the path is known, not with this method: its 405
            scope["route"] = partial[0]
            scope.update(partial[1])
            await partial[0].handle(scope, receive, send)
            return
        if (
            self.redirect_slashes
            and route_path != "/"
            and await self._redirected(scope, receive, send)
        ):
            return
        await self.default(scope, receive, send)

    async def _redirected(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Starlette's redirect to the same path with or without its trailing slash, if a
        route matches that (of the candidates for that path)."""
        other = dict(scope)
        path = other["path"]
        other["path"] = path.rstrip("/") if path.endswith("/") else path + "/"
        for route in self._candidates(get_route_path(other)):
            match, _ = route.matches(other)
            if match is not Match.NONE:
                await RedirectResponse(url=str(URL(scope=other)))(scope, receive, send)
                return True
        return False


class SegmentRoutingMiddleware(RoutingMiddleware):
    """Connexion's routing middleware whose API routers are :class:`SegmentRouter`."""

    def add_api(self, *args: Any, **kwargs: Any) -> None:
        super().add_api(*args, **kwargs)
        mount = self.router.routes[-1]  # the API connexion just mounted
        assert isinstance(mount, Mount) and isinstance(mount.app, Router)
        plain = mount.app
        routed = SegmentRouter(routes=plain.routes, default=plain.default)
        self.router.routes[-1] = Mount(mount.path, app=routed, name=mount.name)


def _literal_prefixes(router: Router, within: str = "") -> list[str]:
    """The literal start of every route's path (mounts descended), trailing slashes dropped:
    a path that starts with none of them (nor does with a slash added or removed) matches no
    route, and gets no slash redirect either."""
    prefixes: list[str] = []
    for route in router.routes:
        if isinstance(route, Mount) and isinstance(route.app, Router):
            prefixes += _literal_prefixes(route.app, within + route.path)
        elif isinstance(route, Route | Mount):
            prefixes.append((within + route.path_format).partition("{")[0].rstrip("/"))
        else:
            prefixes.append("")  # unknown: may match anything
    return prefixes


class SwaggerUIOnItsPaths(SwaggerUIMiddleware):
    """Connexion's Swagger UI middleware; a path none of its routes can match goes straight
    to the next app, as the router's default would send it (a copy of the scope as it came)."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self._prefixes: tuple[str, ...] = ()

    def add_api(self, *args: Any, **kwargs: Any) -> None:
        super().add_api(*args, **kwargs)
        self._prefixes = tuple(_literal_prefixes(self.router))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")  # (a lifespan scope has none)
        # (a path without its leading slash is redirected to one with it by the router)
        if scope["type"] == "http" and path[:1] == "/" and not path.startswith(self._prefixes):
            await self.app(dict(scope), receive, send)
            return
        await super().__call__(scope, receive, send)
