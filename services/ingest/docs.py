"""``/docs``: a self-contained page that lists the operations of ``/openapi.json``.

The document itself is generated from the route table (``services.core.openapi``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from services.core.openapi import Reply, operation

DOCS_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>vidpipe API</title><style>body{font:15px system-ui;max-width:60rem;margin:2rem auto}
code{background:#eee;padding:0 .3em}section{border-top:1px solid #ccc;padding:.5rem 0}</style>
</head><body><h1>vidpipe API</h1><p>Machine-readable: <a href="/openapi.json">/openapi.json</a>.
Authenticate with <code>Authorization: Bearer &lt;access_token&gt;</code> from
<code>POST /auth/login</code>.</p><div id="ops"></div><script>
fetch('/openapi.json').then(r=>r.json()).then(d=>{const o=document.getElementById('ops');
for(const [p,ms] of Object.entries(d.paths))for(const [m,op] of Object.entries(ms)){
const s=document.createElement('section');const h=document.createElement('h3');
h.textContent=m.toUpperCase()+' '+p;const q=document.createElement('p');q.textContent=op.summary+
' \\u2014 responses: '+Object.keys(op.responses).join(', ');s.append(h,q);o.append(s);}});
</script></body></html>"""


@operation(
    "Human-readable API docs",
    {200: Reply("HTML", media_type="text/html", schema={"type": "string"})},
)
async def docs_page(request: Request) -> Response:
    return HTMLResponse(DOCS_PAGE)
