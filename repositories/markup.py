"""A repository's full description: Markdown rendered to HTML, then sanitized
(nh3 keeps a safe set of tags and attributes and drops scripts, styles and
event handlers), so what a pusher writes cannot run in a reader's browser."""

import markdown
import nh3
from django.utils.safestring import mark_safe

EXTENSIONS = ["fenced_code", "tables", "sane_lists"]


def render_markdown(text):
    html = markdown.markdown(text or "", extensions=EXTENSIONS, output_format="html")
    return mark_safe(nh3.clean(html, link_rel="nofollow noopener noreferrer"))
