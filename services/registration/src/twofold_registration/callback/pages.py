"""The small HTML pages a person sees at the end of the provider's flow (seed 004 asked for feedback, not "OK")."""

from html import escape

from fastapi.responses import HTMLResponse

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}
h1{{font-size:1.4rem}} .ok{{color:#176b2c}} .err{{color:#a11}}</style></head>
<body><h1 class="{css}">{title}</h1><p>{message}</p>{extra}</body></html>"""

_RECOVERY_CODES = """<h2>Your recovery codes</h2>
<p>Each code signs you in once if you lose your authenticator. Save them somewhere safe now:
they are shown only this once.</p><ul id="recovery-codes">{items}</ul>"""


def page(*, ok: bool, title: str, message: str, status: int = 200,
         recovery_codes: list[str] | None = None) -> HTMLResponse:
    extra = _RECOVERY_CODES.format(items="".join(f"<li><code>{escape(c)}</code></li>" for c in recovery_codes)) \
        if recovery_codes else ""
    html = _PAGE.format(title=escape(title), message=escape(message), css="ok" if ok else "err", extra=extra)
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": "default-src 'none'; "
                                                                                   "style-src 'unsafe-inline'"})
