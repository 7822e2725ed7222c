"""The model card, from the Markdown training writes to HTML, with its headings in the page's
language.

Training writes the card in English Markdown (:mod:`training.report`); the data team reads it in
the service. Raw HTML in the card is escaped (markdown-it's ``html`` option off), so a card
cannot inject a script into the page. Headings and table headers are translated from
:data:`TERMS`; the card's prose stays English and is marked ``lang="en"`` by the template.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

_MD = MarkdownIt("commonmark", {"html": False}).enable("table")

TERMS: dict[str, str] = {
    # headings (longest first where one starts another)
    "Model card": "Thẻ mô hình",
    "Intended use": "Mục đích sử dụng",
    "Training pool": "Dữ liệu huấn luyện bổ sung",
    "Data": "Dữ liệu",
    "Label": "Nhãn (điều cần dự báo)",
    "Split": "Chia tập dữ liệu",
    "Model": "Mô hình",
    "Metrics on the test window": "Chỉ số trên cửa sổ kiểm định",
    "Backtest (ROC AUC per test window)": "Kiểm định lùi (ROC AUC theo từng cửa sổ)",
    "Backtest": "Kiểm định lùi",
    "Limitations": "Hạn chế",
    "Fairness": "Công bằng",
    # table headers
    "part": "phần",
    "snapshots": "các kỳ",
    "months": "số tháng",
    "rows": "số dòng",
    "households": "số hộ",
    "positives": "số ca có khó khăn",
    "rate": "tỷ lệ",
    "ranking": "cách xếp hạng",
    "capture top 10%": "tỷ lệ phát hiện (10 % đầu)",
    "capture at capacity": "tỷ lệ phát hiện theo năng lực",
    "precision top 1%": "độ chính xác (1 % đầu)",
    "cal. slope": "độ dốc hiệu chỉnh",
    "difference (paired bootstrap)": "chênh lệch (bootstrap ghép cặp)",
}
_KEYS = sorted(TERMS, key=len, reverse=True)


def _translate(text: str) -> str:
    stripped = text.strip()
    for key in _KEYS:
        if stripped == key or (stripped.startswith(key) and not stripped[len(key)].isalpha()):
            return text.replace(key, TERMS[key], 1)
    return text


def card_html(markdown: str, lang: str, shift: int = 2) -> Markup:
    """The card as HTML; in Vietnamese its headings and table headers are translated.

    Headings move down ``shift`` levels (the card's ``#`` is an ``h3``), so the card sits under
    the page's own ``h1`` and the view's ``h2``.
    """
    tokens = _MD.parse(markdown)
    for tok in tokens:
        if tok.type in ("heading_open", "heading_close"):
            tok.tag = f"h{min(6, int(tok.tag[1]) + shift)}"
    if lang == "vi":
        for prev, tok in zip(tokens, tokens[1:], strict=False):
            if tok.type == "inline" and prev.type in ("heading_open", "th_open"):
                for child in tok.children or []:
                    if child.type == "text":
                        child.content = _translate(child.content)
    return Markup(_MD.renderer.render(tokens, _MD.options, {}))  # escaped by markdown-it
