"""Texts of the web pages in Vietnamese (default) and English, and the way each writes numbers.

Every visible string of the templates is a key of :data:`TEXT`; ``t(key)`` in a template gives it
in the page's language. Money uses :func:`features.reason_text.format_vnd` (``12.500.000 ₫`` /
``12,500,000 VND``); percentages and dates follow the same conventions.
"""

from __future__ import annotations

import math
from datetime import date, datetime

from features.reason_text import format_vnd
from serving.bands import BAND_VI
from serving.clock import local_time

LANGS = ("vi", "en")
DEFAULT_LANG = "vi"

TEXT: dict[str, tuple[str, str]] = {
    # key: (Vietnamese, English)
    "app_name": ("Rủi ro tín dụng chính sách", "Policy credit risk"),
    "office": ("Phòng giao dịch NHCSXH huyện", "VBSP district transaction office"),
    "skip": ("Bỏ qua, tới nội dung chính", "Skip to main content"),
    "nav_priorities": ("Ưu tiên kiểm tra", "Priorities"),
    "nav_plans": ("Kế hoạch kiểm tra", "Visit plans"),
    "nav_application": ("Kiểm tra hồ sơ vay", "Application check"),
    "nav_model": ("Mô hình", "Model"),
    "logout": ("Đăng xuất", "Log out"),
    "switch_lang": ("English", "Tiếng Việt"),
    "switch_lang_label": ("Switch to English", "Chuyển sang tiếng Việt"),
    "login_title": ("Đăng nhập bằng khóa API", "Log in with your API key"),
    "login_help": (
        "Nhập khóa API do nhóm dữ liệu cấp. Khóa được giữ trong cookie HttpOnly của phiên này "
        "và xóa khi đóng trình duyệt hoặc đăng xuất.",
        "Enter the API key the data team gave you. It is kept in an HttpOnly cookie for this "
        "browser session and cleared when you close the browser or log out.",
    ),
    "api_key": ("Khóa API", "API key"),
    "login": ("Đăng nhập", "Log in"),
    "bad_key": ("Khóa không hợp lệ hoặc đã bị thu hồi.", "The key is not valid or was revoked."),
    "role": ("Vai trò", "Role"),
    "role_inspector": ("kiểm tra viên", "inspector"),
    "role_officer": ("cán bộ tín dụng", "loan officer"),
    "role_data": ("nhóm dữ liệu", "data team"),
    "role_admin": ("quản trị", "administrator"),
    "denied": ("Vai trò của bạn không được xem trang này.", "Your role may not see this page."),
    "not_found": ("Không tìm thấy.", "Not found."),
    "request_id": ("Mã yêu cầu (báo cho bộ phận kỹ thuật)", "Request id (quote it to support)"),
    "commune": ("Xã", "Commune"),
    "village": ("Thôn", "Village"),
    "group": ("Tổ TK&VV", "Group"),
    "all": ("Tất cả", "All"),
    "band": ("Mức rủi ro", "Risk band"),
    "sort": ("Sắp xếp theo", "Sort by"),
    "sort_risk": ("Rủi ro", "Risk"),
    "sort_exposure": ("Dư nợ có thể mất", "Expected exposure"),
    "rising_only": ("Chỉ hộ rủi ro đang tăng", "Rising risk only"),
    "show": ("Số hộ hiển thị", "Households shown"),
    "filter": ("Lọc", "Filter"),
    "priorities_title": ("Hộ cần ưu tiên kiểm tra", "Households to visit first"),
    "scores_of": ("Ngày tính điểm", "Scored as of"),
    "model": ("Mô hình", "Model"),
    "households_total": ("hộ đang vay", "borrowing households"),
    "rank": ("Hạng", "Rank"),
    "household": ("Hộ", "Household"),
    "probability": ("Xác suất gặp khó khăn 12 tháng", "Probability of trouble in 12 months"),
    "prob_short": ("Xác suất", "Probability"),
    "change_3m": ("Thay đổi 3 tháng", "3-month change"),
    "outstanding": ("Dư nợ", "Outstanding"),
    "exposure": ("Dư nợ có thể mất", "Expected exposure"),
    "last_visit": ("Lần kiểm tra gần nhất", "Last visit"),
    "never": ("chưa", "never"),
    "reasons": ("Lý do", "Reasons"),
    "no_rows": ("Không có hộ nào phù hợp.", "No household matches."),
    "groups_title": ("Tổ có rủi ro tăng cùng lúc", "Groups whose members' risk is rising together"),
    "groups_help": (
        "Một tổ được đánh dấu khi ít nhất một nửa (và ít nhất 2) thành viên có rủi ro tăng trong 3 tháng.",
        "A group is flagged when at least half (and at least 2) of its members rose in risk over 3 months.",
    ),
    "members": ("Thành viên", "Members"),
    "mean_prob": ("Xác suất bình quân", "Mean probability"),
    "rising_members": ("Số hộ tăng", "Rising members"),
    "rising_together": ("Tăng cùng lúc", "Rising together"),
    "yes": ("có", "yes"),
    "no": ("không", "no"),
    "no_groups": ("Không có tổ nào tăng cùng lúc.", "No group is rising together."),
    "chart_title": (
        "Phân bố và xu hướng rủi ro của xã",
        "The commune's risk distribution and trend",
    ),
    "chart_dist": ("Số hộ theo mức rủi ro (tháng gần nhất)", "Households by band (latest month)"),
    "chart_trend": ("Xác suất bình quân theo tháng", "Mean probability by month"),
    "chart_table": ("Số liệu của biểu đồ", "Chart data"),
    "month": ("Tháng", "Month"),
    "mean": ("Bình quân", "Mean"),
    "household_title": ("Hộ", "Household"),
    "history": ("Lịch sử điểm rủi ro", "Score history"),
    "visits": ("Lượt kiểm tra", "Visits"),
    "no_visits": ("Chưa có lượt kiểm tra nào.", "No visit yet."),
    "plans_title": ("Kế hoạch kiểm tra theo tháng", "Monthly visit plans"),
    "new_plan": ("Lập kế hoạch mới", "New plan"),
    "capacity_per_day": ("Số hộ kiểm tra mỗi ngày", "Visits per day"),
    "days": ("Số ngày trong tháng", "Days available"),
    "random_share": ("Tỷ lệ chọn ngẫu nhiên (%)", "Random share (%)"),
    "replace": (
        "Thay kế hoạch cũ của tháng (nếu chưa ghi kết quả)",
        "Replace the month's plan (if no outcome recorded)",
    ),
    "build_plan": ("Lập kế hoạch", "Build plan"),
    "no_plans": ("Chưa có kế hoạch nào.", "No plan yet."),
    "created": ("Lập lúc", "Created"),
    "outcomes": ("Kết quả đã ghi", "Outcomes recorded"),
    "open": ("Mở", "Open"),
    "plan_title": ("Kế hoạch kiểm tra", "Visit plan"),
    "print": ("In (mỗi ngày một trang A4)", "Print (one A4 page per day)"),
    "transaction_day": ("ngày giao dịch của xã", "the commune's transaction day"),
    "selection": ("Cách chọn", "Selection"),
    "sel_risk": ("theo rủi ro", "by risk"),
    "sel_exposure": ("theo dư nợ có thể mất", "by exposure"),
    "sel_random": ("ngẫu nhiên", "random"),
    "sel_prob": ("xác suất được chọn", "selection probability"),
    "reason": ("Lý do chọn", "Why"),
    "outcome": ("Kết quả", "Outcome"),
    "use_of_funds": ("Sử dụng vốn", "Use of funds"),
    "uof_correct": ("đúng mục đích", "as declared"),
    "uof_partial": ("sai một phần", "partly misused"),
    "uof_misuse": ("sai mục đích", "misused"),
    "uof_unknown": ("chưa kiểm tra được", "not checked"),
    "borrower_present": ("Gặp người vay", "Borrower present"),
    "migrated": ("Đã đi khỏi địa phương", "Left the locality"),
    "notes": ("Ghi chú (không ghi họ tên, số CCCD)", "Notes (no names or ID numbers)"),
    "save": ("Lưu", "Save"),
    "saved": ("Đã lưu", "Saved"),
    "recorded_by": ("người ghi", "recorded by"),
    "visits_planned": ("lượt kiểm tra", "visits"),
    "random_visits": ("lượt ngẫu nhiên", "random visits"),
    "signature": ("Chữ ký cán bộ kiểm tra", "Inspector's signature"),
    "application_title": ("Kiểm tra rủi ro hồ sơ vay", "Check a loan application's risk"),
    "identity": ("Người vay", "Applicant"),
    "id_household": ("Mã hộ (đã ẩn danh)", "Household id (pseudonym)"),
    "id_national": ("Số CCCD (12 số, không lưu lại)", "Citizen ID (12 digits, never stored)"),
    "id_new": ("Thành viên mới của tổ", "New member of a group"),
    "lookup": ("Tra cứu hộ", "Look up household"),
    "lookup_none": (
        "Không tìm thấy hộ này trong các xã bạn được xem.",
        "No such household in the communes you may see.",
    ),
    "program": ("Chương trình", "Program"),
    "cap": ("tối đa", "up to"),
    "term": ("tháng", "months"),
    "purpose": ("Mục đích", "Purpose"),
    "amount": ("Số tiền vay (đồng)", "Amount (VND)"),
    "term_months": ("Thời hạn (tháng)", "Term (months)"),
    "grace_months": ("Ân hạn (tháng)", "Grace (months)"),
    "score": ("Chấm điểm", "Score"),
    "result": ("Kết quả chấm điểm", "Result"),
    "errors": ("Hồ sơ chưa hợp lệ", "The application is not valid"),
    "model_version": ("Phiên bản mô hình", "Model version"),
    "feature_as_of": ("Dữ liệu đến ngày", "Data as of"),
    "model_title": ("Mô hình đang dùng", "Models in service"),
    "view_portfolio": ("Danh mục cho vay (kiểm tra)", "Portfolio (inspections)"),
    "view_application": ("Hồ sơ vay mới", "Applications"),
    "version": ("Phiên bản", "Version"),
    "loaded_at": ("Nạp lúc", "Loaded at"),
    "run": ("Lần huấn luyện", "Training run"),
    "key_metrics": ("Chỉ số chính (cửa sổ kiểm định)", "Key metrics (test window)"),
    "ranker": ("Cách xếp hạng", "Ranking"),
    "model_card": ("Thẻ mô hình", "Model card"),
    "card_note": (
        "Thẻ mô hình do bước huấn luyện viết bằng tiếng Anh; các đề mục đã được dịch.",
        "The model card as training wrote it.",
    ),
    "champion": ("mô hình chính", "champion"),
    "gate_reason": ("Lý do (nguyên văn)", "Reason"),
    "alias_history": ("Lịch sử thay đổi mô hình chính", "Champion alias history"),
    "decided_at": ("Thời điểm", "When"),
    "action": ("Quyết định", "Action"),
    "from_to": ("Từ → đến", "From → to"),
    "gate": ("Qua cổng kiểm định", "Gate passed"),
    "actor": ("Người quyết định", "By"),
    "no_model": ("Chưa có mô hình nào được nạp.", "No model is loaded."),
    "no_scores": ("Chưa có điểm rủi ro cho lựa chọn này.", "No scores for this selection."),
    "unavailable": ("Không đọc được", "Unavailable"),
    "what_if": ("Nếu thay đổi số tiền hoặc thời hạn", "At other amounts and terms"),
    "what_if_help": (
        "Xác suất gặp khó khăn của cùng hộ, cùng chương trình và mục đích; ô được tô là hồ sơ này.",
        "Probability of trouble for the same household, program and purpose; the marked cell is "
        "this application.",
    ),
    "what_if_amount": ("Số tiền / thời hạn (tháng)", "Amount / term (months)"),
    # Freshness of scores
    "scores_dated": ("Điểm rủi ro tính đến ngày", "Scores dated"),
    "days_ago": ("ngày trước", "days ago"),
    "stale_warning": (
        "Điểm này cũ hơn tháng đã khóa sổ gần nhất,",
        "These scores predate the last closed month,",
    ),
    "stale_advice": (
        "Hãy báo nhóm dữ liệu chấm điểm lại sau phiên giao dịch tháng.",
        "Ask the data team to rescore after the month's sessions.",
    ),
    # Plain words
    "legend_title": ("Cách đọc mức rủi ro", "Reading the risk bands"),
    "legend_band": (
        "Xác suất hộ gặp khó khăn (nợ lãi tồn, gia hạn hoặc quá hạn) trong 12 tháng tới:",
        "Probability the household runs into trouble (interest arrears, extension or overdue) within 12 months:",
    ),
    "legend_from": ("từ", "from"),
    "legend_below": ("dưới", "below"),
    "district_average": ("Bình quân của huyện", "District average"),
    "commune_average": ("Bình quân của xã", "Commune average"),
    "pp": ("điểm %", "pp"),
    "change_help": (
        "Thay đổi 3 tháng tính bằng điểm phần trăm (điểm %): từ 5 % lên 8 % là tăng 3 điểm %.",
        "3-month change in percentage points (pp): from 5% to 8% is +3 pp.",
    ),
    "sel_random_why": (
        "Chọn ngẫu nhiên để kiểm chứng mô hình: hộ này không được chọn vì điểm rủi ro.",
        "Drawn at random to check the model: not chosen for its score.",
    ),
    "random_explained": (
        "Lượt ngẫu nhiên: chọn ngẫu nhiên để kiểm chứng mô hình, không phải vì rủi ro cao.",
        "Random visits are drawn at random to check the model, not because of a high risk.",
    ),
    "judgement": (
        "Điểm rủi ro chỉ hỗ trợ cán bộ cân nhắc, không phải lý do để từ chối cho vay chính sách.",
        "The score supports the officer's judgement; it is not a reason to refuse policy credit.",
    ),
    # Plans, outcomes
    "plan_days": ("Các ngày của kế hoạch", "Days of the plan"),
    "record_outcome": ("Ghi kết quả", "Record outcome"),
    "edit_outcome": ("Sửa kết quả", "Correct outcome"),
    "outcome_from": ("Ghi kết quả từ ngày", "Outcome can be recorded from"),
    "choose": ("chọn", "choose"),
    "confirm_both": (
        "Xác nhận: đã gặp người vay dù người vay đã đi khỏi địa phương",
        "Confirm: the borrower was met although they have left the locality",
    ),
    "notes_short": ("Ghi chú", "Notes"),
    "visit_day": ("Ngày kiểm tra", "Visit date"),
    "score_id": ("mã lượt chấm", "score id"),
    "plan_months_help": ("Chỉ lập cho tháng này hoặc tháng sau.", "This month or the next only."),
    # Friendly errors, times
    "page_missing": ("Không có trang này.", "There is no such page."),
    "page_missing_help": ("Đường dẫn có thể đã cũ. Quay về", "The link may be old. Go back to"),
    "login_needed": ("Bạn cần đăng nhập để xem trang này.", "Sign in to see this page."),
    "time_zone": ("giờ Việt Nam", "Vietnam time"),
    "filters_summary": ("Bộ lọc", "Filters"),
    "household_details": ("Chi tiết", "Details"),
}

BAND_EN = {"low": "low", "medium": "medium", "high": "high", "very_high": "very high"}
RANKERS = {
    "lightgbm": ("Mô hình (LightGBM)", "Model (LightGBM)"),
    "logistic": ("Hồi quy logistic", "Logistic challenger"),
    "practice_arrears": ("Thực tế: nhiều lãi tồn trước", "Practice: most arrears first"),
    "random": ("Ngẫu nhiên", "Random"),
    "oracle": ("Tối ưu (mô phỏng)", "Oracle (simulation)"),
}
METRICS = {
    "roc_auc": ("AUC", "ROC AUC"),
    "pr_auc": ("PR AUC", "PR AUC"),
    "capture_at_capacity": ("Tỷ lệ phát hiện theo năng lực", "Capture at capacity"),
    "precision_at_capacity": ("Độ chính xác theo năng lực", "Precision at capacity"),
    "brier": ("Brier", "Brier"),
    "calibration_slope": ("Độ dốc hiệu chỉnh", "Calibration slope"),
}
ACTIONS = {
    "promoted": ("đưa lên làm mô hình chính", "promoted"),
    "refused": ("bị từ chối", "refused"),
    "unchanged": ("giữ nguyên", "unchanged"),
}
WEEKDAYS = {
    "vi": ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}


def text(key: str, lang: str) -> str:
    """The text of ``key`` in ``lang`` (the key itself when unknown, so a gap shows)."""
    pair = TEXT.get(key)
    return key if pair is None else pair[0 if lang == "vi" else 1]


def pair(labels: tuple[str, str], lang: str) -> str:
    """One of a ``(vi, en)`` pair."""
    return labels[0 if lang == "vi" else 1]


def band_name(band: str, lang: str) -> str:
    """A band's word in ``lang``."""
    return BAND_VI.get(band, band) if lang == "vi" else BAND_EN.get(band, band)


def pct(value: float | None, lang: str, digits: int = 1, signed: bool = False) -> str:
    """A share as a percentage: ``12,3 %`` (vi) / ``12.3%`` (en); ``—`` when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    s = f"{value * 100:+.{digits}f}" if signed else f"{value * 100:.{digits}f}"
    return s.replace(".", ",") + " %" if lang == "vi" else s + "%"


def decimal(value: float | None, lang: str, digits: int = 3) -> str:
    """A plain number with a decimal comma in Vietnamese (``0,657``) and a point in English."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    s = f"{value:.{digits}f}"
    return s.replace(".", ",") if lang == "vi" else s


def pp(value: float | None, lang: str, digits: int = 1) -> str:
    """A change of a probability in percentage points: ``+3,2 điểm %`` (vi) / ``+3.2 pp`` (en)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    s = f"{value * 100:+.{digits}f}"
    return f"{s.replace('.', ',')} điểm %" if lang == "vi" else f"{s} pp"


def time_local(stamp: datetime | None, lang: str) -> str:
    """A stored time on the office's clock, labelled: ``14:05 02/12/2026 (giờ Việt Nam)``."""
    local = local_time(stamp)
    if local is None:
        return "—"
    return f"{local:%H:%M} {day(local.date(), lang)} ({text('time_zone', lang)})"


def vnd(amount: float | None, lang: str) -> str:
    """Money the way ``lang`` writes it."""
    return format_vnd(amount, lang)  # type: ignore[arg-type]


def day(value: date | str | None, lang: str, weekday: bool = False) -> str:
    """A date: ``25/01/2026`` (vi) / ``2026-01-25`` (en), optionally with the weekday."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    elif isinstance(value, datetime):
        value = value.date()
    s = value.strftime("%d/%m/%Y") if lang == "vi" else value.isoformat()
    return f"{WEEKDAYS[lang][value.weekday()]}, {s}" if weekday else s


def month(value: str | date | None, lang: str) -> str:
    """A month: ``tháng 01/2026`` (vi) / ``2026-01`` (en)."""
    if value is None:
        return "—"
    m = value if isinstance(value, str) else value.isoformat()[:7]
    return f"tháng {m[5:7]}/{m[:4]}" if lang == "vi" else m[:7]


# --- issue 19, items 2, 7, 8, 9 (offline outbox, data-team page, household contacts) ---------
# Kept in one block at the end so it merges apart from the phone-pages work above.
TEXT.update(
    {
        "outbox_title": ("Chờ gửi", "Waiting to be sent"),
        "outbox_waiting": (
            "kết quả đang chờ gửi (chưa có mạng)",
            "outcomes waiting to be sent (offline)",
        ),
        "outbox_send": ("Gửi ngay", "Send now"),
        "outbox_sent": ("Đã gửi các kết quả chờ.", "Waiting outcomes sent."),
        "outbox_failed": ("Không gửi được, cần nhập lại:", "Could not be sent, enter again:"),
        "outbox_signin": ("Hãy đăng nhập lại để gửi.", "Sign in again to send them."),
        "outbox_queued": (
            "Đã lưu trên máy, sẽ gửi khi có mạng",
            "Saved on this device, sent when online",
        ),
        "outbox_offline": (
            "Đang không có mạng: trang này là bản đã lưu.",
            "Offline: this is the saved copy of the page.",
        ),
        "nav_data": ("Dữ liệu", "Data"),
        "data_title": ("Theo dõi mô hình", "Model monitoring"),
        "data_champions": ("Mô hình đang dùng và quyết định duyệt", "Champions and gate decisions"),
        "data_view": ("Loại", "View"),
        "data_version": ("Phiên bản", "Version"),
        "data_decision": ("Quyết định", "Decision"),
        "data_decided_at": ("Thời điểm", "Decided at"),
        "data_reason": ("Lý do", "Reason"),
        "data_gate_passed": ("Đạt kiểm định", "Gate passed"),
        "data_gate_failed": ("Không đạt kiểm định", "Gate failed"),
        "data_no_decision": ("Chưa có quyết định nào được ghi", "No decision recorded"),
        "data_monitor": ("Lần theo dõi gần nhất", "Last monitoring run"),
        "data_no_monitor": ("Chưa chạy lệnh theo dõi", "Not yet run:"),
        "data_alerts": ("Cảnh báo trôi dữ liệu", "Drift alerts"),
        "data_no_alerts": ("Không có cảnh báo.", "No alerts."),
        "data_maturity": ("Độ chín của nhãn", "Label maturity"),
        "data_backtest": (
            "Kiểm tra lại theo tháng: dự báo và thực tế",
            "Back-test by month: predicted and realized",
        ),
        "data_predicted": ("Dự báo", "Predicted"),
        "data_realized": ("Thực tế", "Realized"),
        "data_fairness": ("Công bằng (theo nhóm)", "Fairness (by group)"),
        "data_no_fairness": ("Chưa chạy lệnh kiểm tra công bằng", "Not yet run:"),
        "data_reload": ("Nạp lại mô hình", "Reload models"),
        "data_reloaded": ("Đã nạp lại", "Reloaded"),
        "data_csrf": (
            "Phiên biểu mẫu đã hết hạn, hãy thử lại.",
            "The form has expired; try again.",
        ),
        "data_month": ("Tháng", "Month"),
        "data_rows": ("Số dòng", "Rows"),
        "data_labelled": ("Có nhãn", "Labelled"),
        "data_known_from": ("Biết kết quả từ", "Outcome known from"),
        "data_group": ("Nhóm", "Group"),
        "data_households": ("Số hộ", "Households"),
        "fm_selection_rate": ("Tỷ lệ được chọn", "Selection rate"),
        "fm_precision": ("Độ chính xác", "Precision"),
        "fm_capture": ("Tỷ lệ phát hiện", "Capture"),
        "fm_calibration_ratio": ("Thực tế / dự báo", "Realized / predicted"),
        "data_r_unchanged": ("không đổi", "unchanged"),
        "data_r_loaded": ("đã nạp", "loaded"),
        "data_r_failed": ("lỗi", "failed"),
        "data_r_reloaded": ("đã nạp lại", "reloaded"),
        "data_online_store": ("Kho đặc trưng trực tuyến", "Online feature store"),
        "data_portfolio_scores": ("Điểm danh mục", "Portfolio scores"),
        "data_scored": ("hộ được chấm điểm bằng", "households scored with"),
        "contact_head": ("Chủ hộ", "Head of household"),
        "contact_hamlet": ("Thôn/xóm", "Hamlet"),
        "member_no": ("Số thứ tự trong tổ", "Member no. in group"),
        "leader_village": ("Thôn của tổ trưởng", "Group leader's village"),
    }
)
# --- end of issue 19 block --------------------------------------------------------------------
