"""Which words of a page are English: the check that a Vietnamese page says everything in
Vietnamese (issue 19), shared by the browser tests."""

from __future__ import annotations

import re
import unicodedata

# English words a Vietnamese page must not show (none of them is also a Vietnamese word).
ENGLISH = frozenset(
    """
the and of for with from this that these is are was be not must should cannot than over under
household households risk score scores scored plan plans visit visits outcome outcomes save
saved print model models amount cap program programs month months error errors invalid field
body input greater unknown found page login logout filter filters band bands probability reason
reasons rank village group groups commune communes yes random selection outstanding exposure
days today stale champion version loaded history application applications result results term
grace purpose borrower present migrated notes recorded confirm open close back home average
district change chart data view portfolio metrics card alias decided action gate passed role
inspector officer admin team switch language none never all show shown sort per week weekday
monday tuesday wednesday thursday friday saturday sunday january february march april may june
july august september october november december percentage points pp vnd
""".split()  # noqa: SIM905 (a word list reads better as text)
)

VISIBLE_TEXT = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || !n.textContent.trim()) continue;
    if (el.closest('script,style,[translate="no"]')) continue;
    const lang = el.closest('[lang]');
    if (lang && lang.getAttribute('lang') !== 'vi') continue;
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || r.right <= 0) continue;
    out.push(n.textContent);
  }
  for (const el of document.querySelectorAll('input[placeholder],[aria-label]')) {
    if (el.closest('[lang="en"]') || !el.checkVisibility()) continue;
    out.push(el.getAttribute('placeholder') || '', el.getAttribute('aria-label') || '');
  }
  return out.join(' ');
}"""


def english_words(text: str) -> set[str]:
    """Words of ``text`` found in :data:`ENGLISH` (case-insensitive, whole words: "bề" or "nợ"
    are not "be" or "no", also when the page writes them decomposed)."""
    words = re.findall(r"[^\W\d_]+", unicodedata.normalize("NFC", text))
    return {w for w in words if w.lower() in ENGLISH}


def vietnamese_only(page: object, name: str) -> None:
    """Fail when the visible text of a Vietnamese page has English words."""
    if page.locator("html").get_attribute("lang") == "vi":  # type: ignore[attr-defined]
        found = english_words(page.evaluate(VISIBLE_TEXT))  # type: ignore[attr-defined]
        assert not found, f"{name}: English words on a Vietnamese page: {sorted(found)}"
