"""Error messages of the pages: a sentence in the page's language, never a field path.

The API answers in English with field paths (``body: amount 500,000,000 VND is over the cap``)
for programs; a person at a commune office needs "Số tiền 500.000.000 ₫ vượt mức tối đa
100.000.000 ₫ của chương trình Hộ nghèo". The rules stay declared once (pydantic models, the
program table in :mod:`features.domain`, :func:`features.application.validate_application`): this
module only words what they found, taking the numbers from the form and the program table.
A problem it does not recognise still gets a sentence in the page's language naming the field.
"""

from __future__ import annotations

import re
from datetime import date

from pydantic import ValidationError

from features import domain
from serving.plan_schemas import ID_LIKE_MARK
from serving.web import i18n

FIELDS: dict[str, tuple[str, str]] = {
    "household_id": ("Mã hộ", "The household id"),
    "national_id": ("Số CCCD", "The citizen ID"),
    "group_id": ("Tổ TK&VV", "The group"),
    "village_id": ("Thôn", "The village"),
    "program": ("Chương trình", "The program"),
    "purpose": ("Mục đích vay", "The purpose"),
    "amount": ("Số tiền vay", "The amount"),
    "term_months": ("Thời hạn vay", "The term"),
    "grace_months": ("Thời gian ân hạn", "The grace period"),
    "commune_id": ("Xã", "The commune"),
    "month": ("Tháng", "The month"),
    "capacity_per_day": ("Số hộ kiểm tra mỗi ngày", "Visits per day"),
    "days": ("Số ngày", "The number of days"),
    "random_share": ("Tỷ lệ chọn ngẫu nhiên", "The random share"),
    "use_of_funds": ("Kết quả sử dụng vốn", "Use of funds"),
    "borrower_present": ("Câu hỏi có gặp người vay không", "Whether the borrower was met"),
    "migrated": ("Câu hỏi người vay đã đi khỏi địa phương chưa", "Whether the borrower left"),
    "notes": ("Ghi chú", "The notes"),
}
MSG: dict[str, tuple[str, str]] = {
    "missing": ("{f} chưa được nhập.", "{f} is missing."),
    "number": ("{f} phải là một số.", "{f} must be a number."),
    "whole": ("{f} phải là số nguyên.", "{f} must be a whole number."),
    "gt": ("{f} phải lớn hơn {n}.", "{f} must be more than {n}."),
    "ge": ("{f} phải từ {n} trở lên.", "{f} must be at least {n}."),
    "le": ("{f} không được vượt quá {n}.", "{f} must be at most {n}."),
    "choice": ("{f} không thuộc danh sách cho phép.", "{f} is not one of the choices."),
    "too_long": ("{f} quá dài.", "{f} is too long."),
    "format": ("{f} không đúng định dạng.", "{f} is not in the expected format."),
    "month_format": (
        "Tháng phải có dạng năm-tháng, ví dụ 2026-03.",
        "The month must be YYYY-MM, e.g. 2026-03.",
    ),
    "national_format": (
        "Số CCCD phải gồm đúng 12 chữ số.",
        "The citizen ID must be exactly 12 digits.",
    ),
    "invalid": ("{f} không hợp lệ.", "{f} is not valid."),
    "identity": (
        "Hãy xác định người vay bằng một cách: mã hộ, số CCCD, hoặc tổ của thành viên mới.",
        "Identify the applicant one way: household id, citizen ID, or the new member's group.",
    ),
    "confirm": (
        "Hộ được đánh dấu vừa gặp người vay vừa đã đi khỏi địa phương: hãy đánh dấu ô xác nhận "
        "nếu đúng như vậy.",
        "The borrower is marked both present and gone from the locality: tick the confirmation "
        "box if that is really so.",
    ),
    "cap": (
        "Số tiền {amount} vượt mức tối đa {cap} của chương trình {program}.",
        "The amount {amount} is over the cap of {cap} for the {program} program.",
    ),
    "term": (
        "Thời hạn {term} tháng vượt thời hạn tối đa {max} tháng của chương trình {program}.",
        "A term of {term} months is over the longest term of {max} months for {program}.",
    ),
    "grace": (
        "Ân hạn {grace} tháng vượt ân hạn tối đa {max} tháng của chương trình {program}.",
        "A grace period of {grace} months is over the longest of {max} months for {program}.",
    ),
    "grace_term": (
        "Thời gian ân hạn ({grace} tháng) phải ngắn hơn thời hạn vay ({term} tháng).",
        "The grace period ({grace} months) must be shorter than the term ({term} months).",
    ),
    "rule": (
        "Hồ sơ chưa đúng quy định của chương trình ({f}).",
        "The application breaks a rule of its program ({f}).",
    ),
    "unknown_household": (
        "Không tìm thấy hộ hoặc tổ này trong các xã bạn được xem.",
        "No such household or group in the communes you may see.",
    ),
    "id_in_notes": (
        "Ghi chú có một dãy 9–12 chữ số giống số CCCD hoặc số điện thoại. Không ghi số giấy tờ, "
        "số điện thoại hay tên người vào ghi chú; số tiền hãy viết như “100 triệu”.",
        "The notes hold a run of 9–12 digits that looks like a citizen ID or phone number. Do not "
        "write ID numbers, phone numbers or names in notes; write amounts like “100 million”.",
    ),
}


def _say(key: str, lang: str, **values: object) -> str:
    return i18n.pair(MSG[key], lang).format(**values)


def field_name(field: str, lang: str) -> str:
    """A field's name in a sentence (the field itself when it has none)."""
    return i18n.pair(FIELDS[field], lang) if field in FIELDS else field


def number(value: object, lang: str) -> str:
    """A limit the way ``lang`` writes numbers (``100.000.000`` / ``100,000,000``)."""
    if not isinstance(value, int | float):
        return str(value)
    s = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    return s.translate(str.maketrans(",.", ".,")) if lang == "vi" else s


def validation_messages(err: ValidationError, lang: str) -> list[str]:
    """Each error of a request model as a sentence (field named in words, limits formatted)."""
    out = []
    for e in err.errors():
        names = [p for p in e.get("loc", ()) if isinstance(p, str)]
        field = names[-1] if names else ""
        f, kind, ctx = field_name(field, lang), e.get("type", ""), e.get("ctx") or {}
        msg = str(e.get("msg", ""))
        limit = next((ctx[k] for k in ("gt", "ge", "le", "lt") if k in ctx), None)
        n = (
            i18n.vnd(limit, lang)
            if field == "amount" and limit is not None
            else number(limit, lang)
        )
        if kind == "missing":
            text = _say("missing", lang, f=f)
        elif kind in ("greater_than", "greater_than_equal", "less_than_equal"):
            text = _say(
                {"greater_than": "gt", "greater_than_equal": "ge"}.get(kind, "le"), lang, f=f, n=n
            )
        elif kind in ("int_from_float",):
            text = _say("whole", lang, f=f)
        elif kind.endswith("_parsing") or kind.endswith("_type") or "must be a number" in msg:
            text = _say("number", lang, f=f)
        elif kind in ("literal_error", "enum"):
            text = _say("choice", lang, f=f)
        elif kind == "string_too_long":
            text = _say("too_long", lang, f=f)
        elif kind == "string_pattern_mismatch":
            special = {"month": "month_format", "national_id": "national_format"}
            text = _say(special.get(field, "format"), lang, f=f)
        elif ID_LIKE_MARK in msg:
            text = _say("id_in_notes", lang)
        elif "confirm_present_and_migrated" in msg:
            text = _say("confirm", lang)
        elif "give household_id" in msg:
            text = _say("identity", lang)
        else:
            text = _say("invalid", lang, f=f or field_name("household_id", lang))
        out.append(text[0].upper() + text[1:])
    return out


def _whole(x: object) -> str:
    try:
        return f"{float(x):g}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(x)


def application_problem(problem: str, fields: dict[str, object], lang: str) -> str:
    """One of :func:`features.application.validate_application`'s problems as a sentence."""
    program = domain.PROGRAMS.get(str(fields.get("program")))
    label = (program.label_vi if lang == "vi" else program.label_en) if program else ""
    term, grace = _whole(fields.get("term_months")), _whole(fields.get("grace_months"))
    if program is not None and "over the cap" in problem:
        amount = fields.get("amount")
        shown = i18n.vnd(amount, lang) if isinstance(amount, int | float) else str(amount)
        return _say("cap", lang, amount=shown, cap=i18n.vnd(program.cap_vnd, lang), program=label)
    if program is not None and "over the longest term" in problem:
        return _say("term", lang, term=term, max=program.max_term_months, program=label)
    if program is not None and "over the longest grace" in problem:
        return _say("grace", lang, grace=grace, max=program.max_grace_months, program=label)
    if "shorter than the term" in problem:
        return _say("grace_term", lang, grace=grace, term=term)
    field = next((f for f in FIELDS if re.match(rf"\W*{f}\b", problem)), "program")
    return _say("rule", lang, f=field_name(field, lang).lower())


def unknown_household(lang: str) -> str:
    return _say("unknown_household", lang)


PLAN_MSG: dict[str, tuple[str, str]] = {
    "month": (
        "Chỉ lập được kế hoạch cho tháng này ({a}) hoặc tháng sau ({b}).",
        "A plan can be drawn only for this month ({a}) or the next ({b}).",
    ),
    "exists": (
        "Xã đã có kế hoạch cho tháng này. Mở kế hoạch đó, hoặc đánh dấu ô thay kế hoạch cũ.",
        "The commune already has a plan for this month. Open it, or tick the box to replace it.",
    ),
    "open_existing": ("Mở kế hoạch đã có", "Open the existing plan"),
    "no_scores": (
        "Xã này chưa có điểm rủi ro để lập kế hoạch.",
        "This commune has no scores to plan from.",
    ),
    "scope": (
        "Khóa của bạn không được lập kế hoạch cho xã này.",
        "Your key may not plan for this commune.",
    ),
    "tx_day": (
        "Chưa biết ngày giao dịch của xã, nên chưa lập được kế hoạch. Hãy báo nhóm dữ liệu.",
        "The commune's transaction day is unknown, so no plan can be drawn. Tell the data team.",
    ),
    "kept": (
        "Kế hoạch cũ đã có kết quả kiểm tra nên được giữ nguyên.",
        "The existing plan has recorded outcomes, so it is kept.",
    ),
    "days": (
        "Tháng không đủ ngày làm việc quanh ngày giao dịch cho số ngày và số hộ đã chọn.",
        "The month has too few working days around the transaction day for these settings.",
    ),
    "share": ("Tỷ lệ chọn ngẫu nhiên phải là một số.", "The random share must be a number."),
    "visit_not_yet": (
        "Lượt kiểm tra này vào ngày {d}; chỉ ghi được kết quả từ ngày đó.",
        "This visit is on {d}; its outcome can be recorded from that day on.",
    ),
}


def plan_text(key: str, lang: str, **values: object) -> str:
    """A sentence of the plan pages."""
    return i18n.pair(PLAN_MSG[key], lang).format(**values)


def visit_not_yet(visit_date: date, lang: str) -> str:
    return plan_text("visit_not_yet", lang, d=i18n.day(visit_date, lang))
