"""The language of each page: the visitor's choice, the subscriber's language, or the browser's.

In order, a page is in:

1. the language picked with the switch on every page (``?lang=es``), remembered in a ``lang``
   cookie for a year, so the next page stays in it;
2. on a page opened from a mail's link (preferences, unsubscribe, confirmation), the subscriber's
   own language (the handler says so with ``follow_subscriber``);
3. for a visitor, the best match of the browser's ``Accept-Language`` among the site's languages
   (Babel's ``negotiate_locale``);
4. the site's default language (the first of ``[audience] languages``).

The cookie holds only a language key: it identifies nobody, and without it (a visitor who refuses
cookies, the form framed on another site) pages fall back to the browser's language. The choice is
kept in a context variable for the request, so every page, error page and refusal made while
answering it (even by the middleware inside this one) is in the same language.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, replace
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from outreach.i18n.negotiate import accept_language, best_language

COOKIE = "lang"
QUERY = "lang"
COOKIE_AGE = 365 * 24 * 3600


@dataclass(frozen=True)
class PageLanguage:
    """The language of the page being made, and whether the visitor chose it themselves."""

    language: str
    chosen: bool = False
    # A GET page can be opened again in another language; an answer to a form post cannot.
    switchable: bool = False


_CURRENT: ContextVar[PageLanguage | None] = ContextVar("outreach_page_language", default=None)


def page_language(default: str) -> PageLanguage:
    """The language of the page this request is answered with (``default`` outside a request)."""
    return _CURRENT.get() or PageLanguage(default)


def follow_subscriber(language: str | None, offered: tuple[str, ...]) -> None:
    """A page opened from a subscriber's link is in their language, unless the visitor chose one."""
    current = _CURRENT.get()
    found = best_language([language], offered) if language else None
    if current is not None and not current.chosen and found is not None:
        _CURRENT.set(replace(current, language=found))


def choose(
    query: str, cookie_header: str, accept: str, offered: tuple[str, ...]
) -> tuple[PageLanguage, str | None]:
    """The request's language, and the key to remember in the cookie (when ``?lang=`` picked one)."""
    asked = next((value for name, value in parse_qsl(query) if name == QUERY), "")
    picked = best_language([asked], offered) if asked and len(asked) <= 35 else None
    if picked is not None:
        return PageLanguage(picked, chosen=True), picked
    remembered = _cookie(cookie_header)
    kept = best_language([remembered], offered) if remembered else None
    if kept is not None:
        return PageLanguage(kept, chosen=True), None
    browser = best_language(accept_language(accept), offered) if accept else None
    return PageLanguage(browser or offered[0]), None


def _cookie(header: str) -> str:
    if not header or len(header) > 4096:
        return ""
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed Cookie header is no reason to fail a page
        return ""
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None and len(morsel.value) <= 35 else ""


class LanguageChoice:
    """Plain ASGI middleware, outermost: sets the request's language and remembers a switch."""

    def __init__(self, app: ASGIApp, languages: tuple[str, ...], https: bool = False) -> None:
        self.app = app
        self.languages = languages
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        query = scope.get("query_string", b"").decode("latin-1")
        language, remember = choose(
            query, headers.get("cookie", ""), headers.get("accept-language", ""), self.languages
        )
        token = _CURRENT.set(replace(language, switchable=scope.get("method") in ("GET", "HEAD")))

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                if out.get("content-type", "").startswith("text/html"):  # pages; not CSS, feeds, JSON
                    out.add_vary_header("Accept-Language")
                    out.add_vary_header("Cookie")
                if remember is not None:
                    secure = "; Secure" if self.https else ""
                    out.append(
                        "Set-Cookie",
                        f"{COOKIE}={remember}; Path=/; Max-Age={COOKIE_AGE}; HttpOnly; SameSite=Lax{secure}",
                    )
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookie)
        finally:
            _CURRENT.reset(token)
