"""The small HTML pages a person sees at the end of the provider's flow (seed 004 asked for feedback, not "OK").

After a completed enrollment the page leads on to the pages for people (``/ui/enroll``), which notice the
completion and go on to signing in; the recovery codes are shown here, once, with a download, and the way on
asks that they were saved (the browser's own check of a required box: no script runs here).
"""

from html import escape
from urllib.parse import quote

from fastapi.responses import HTMLResponse

CONTINUE_URL = "/ui/enroll"
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}
h1{{font-size:1.4rem}} .ok{{color:#176b2c}} .err{{color:#a11}} li code{{font-size:1.1rem}}
button{{font:inherit;font-weight:600;padding:.5rem 1rem}}</style></head>
<body><main><h1 class="{css}">{title}</h1><p>{message}</p>{extra}</main></body></html>"""

_RECOVERY_CODES = """<h2>Your recovery codes</h2>
<p>Each code signs you in once if you lose your authenticator. Save them somewhere safe now:
they are shown only this once.</p><ul id="recovery-codes">{items}</ul>
<p><a download="twofold-recovery-codes.txt" href="data:text/plain;charset=utf-8,{file}">Download as a text file</a>
</p>"""
_CONTINUE = """<form method="get" action="{url}">{saved}<p><button type="submit">Continue</button></p></form>"""
_SAVED = """<p><input type="checkbox" id="saved" name="saved" value="yes" required>
<label for="saved">I have saved my recovery codes</label></p>"""


def page(*, ok: bool, title: str, message: str, status: int = 200,
         recovery_codes: list[str] | None = None) -> HTMLResponse:
    extra = ""
    if recovery_codes:
        items = "".join(f"<li><code>{escape(c)}</code></li>" for c in recovery_codes)
        extra = _RECOVERY_CODES.format(items=items, file=quote("\n".join(recovery_codes) + "\n"))
    if ok:
        extra += _CONTINUE.format(url=CONTINUE_URL, saved=_SAVED if recovery_codes else "")
    html = _PAGE.format(title=escape(title), message=escape(message), css="ok" if ok else "err", extra=extra)
    return HTMLResponse(html, status_code=status, headers={"Content-Security-Policy": "default-src 'none'; "
                                                                                   "style-src 'unsafe-inline'; "
                                                                                   "form-action 'self'"})
