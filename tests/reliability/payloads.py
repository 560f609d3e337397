"""XSS payloads and the articles that carry them (shared by the escaping tests and the
browser test; importable without pytest)."""

from __future__ import annotations

PAYLOADS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</textarea></title><script>alert(1)</script>",
    '<iframe src="javascript:alert(1)"></iframe>',
    "{{7*7}}<b>bold</b>${7*7}",
    "</mark><script>alert(1)</script><mark>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    '" onmouseover="alert(1)" x="',
    "javascript:alert(1)",
    "<a href=javascript:alert(1)>click</a>",
    "\u202e<img src=x onerror=alert(1)>",
)
# Payloads that, if they ever ran, would set window.__xss (the browser test looks for it).
FLAG_PAYLOADS = (
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=2</script>",
    '"><svg onload="window.__xss=3">',
    "'><img src=x onerror='window.__xss=4'>",
    '<iframe srcdoc="<script>parent.__xss=5</script>"></iframe>',
    "</strong><img src=x onerror=window.__xss=6><strong>",
)
URL_PAYLOADS = (
    "javascript:alert(1)", "JaVaScRiPt:alert(document.domain)", " javascript:alert(1)", "java\tscript:alert(1)",
    "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", '"><script>alert(1)</script>',
    "\x01javascript:alert(1)", "https://example.org/safe?a=<b>",
)
PAYLOAD_IDS = ('"><img src=x onerror=alert(1)>', "<script>alert(1)</script>")
WORD = "zebrafish"  # every payload article has it, so one search lists them all


def payload_articles(payloads: tuple[str, ...] = PAYLOADS, url_payloads: tuple[str, ...] = URL_PAYLOADS) -> list[dict]:
    """One article per payload (in every text field, its url a javascript:/data: one), plus
    articles whose ids are payloads. They share rare words, so they are related to each other."""
    articles = []
    for i, payload in enumerate(payloads):
        articles.append({
            "id": f"xss-{i}", "title": f"{payload} {WORD} {i}", "summary": f"{payload} summary",
            "body": f"{payload}\n\n{WORD} quokka xylophone {payload} narwhal\n\n## {payload}\n\n- {payload}",
            "category": f"{payload} cat", "tags": [payload, WORD], "author": payload,
            "url": url_payloads[i % len(url_payloads)], "image": url_payloads[(i + 1) % len(url_payloads)],
            "published": f"2025-01-{i % 28 + 1:02d}",
        })
    for j, payload_id in enumerate(PAYLOAD_IDS):
        articles.append({"id": payload_id, "title": f"Payload id {j} {WORD}", "body": f"{WORD} quokka narwhal",
                         "url": "javascript:alert(2)", "category": "Ids"})
    return articles
