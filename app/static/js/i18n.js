// Vietnamese (default) and English UI strings. Static text in index.html carries data-i18n keys;
// strings built in JS go through t(). The chosen language is remembered in localStorage.

const STRINGS = {
  vi: {
    "app.title": "Bản đồ hạ tầng viễn thông thụ động",
    "search.label": "Tìm kiếm",
    "search.placeholder": "Tìm mã trạm, tên đường, phường…",
    "search.none": "Không tìm thấy",
    "check.button": "Kiểm tra vị trí",
    "check.hint": "Nhấp vào bản đồ để chọn vị trí cần kiểm tra",
    "check.title": "Kiểm tra vị trí đề xuất",
    "check.operator": "Doanh nghiệp",
    "check.mount": "Lắp đặt",
    "check.mastHeight": "Chiều cao cột (m)",
    "check.buildingHeight": "Chiều cao công trình (m)",
    "check.reach": "Tầm vươn (m)",
    "check.camouflaged": "Ngụy trang",
    "check.submit": "Kiểm tra",
    "check.running": "Đang kiểm tra…",
    "check.derived": "Loại cột xác định",
    "check.ok": "Không phát hiện vi phạm quy hoạch",
    "check.colocation": "Có thể dùng chung",
    "check.failed": "Không kiểm tra được",
    "base.osm": "Nền OSM (trực tuyến)",
    "panel.toggle": "Bảng",
    "lang.title": "English",
    "filters.title": "Bộ lọc",
    "filters.class": "Loại cột ăng ten",
    "filters.operator": "Doanh nghiệp",
    "filters.district": "Quận/huyện",
    "filters.status": "Trạng thái",
    "filters.all": "Tất cả",
    "filters.findingsOnly": "Chỉ trạm có vi phạm/cảnh báo",
    "filters.visible": "{n} trạm hiển thị",
    "status.built": "Đã xây dựng",
    "status.planned": "Quy hoạch",
    "status.removed": "Đã tháo dỡ",
    "status.in_progress": "Đang thực hiện",
    "status.done": "Đã hoàn thành",
    "export.button": "Xuất dữ liệu",
    "layers.title": "Lớp bản đồ",
    "layer.sites": "Trạm BTS",
    "layer.findings": "Vi phạm: cột A2a trên tuyến/khu vực A1",
    "layer.warnings": "Cảnh báo: khoảng cách, loại cột kê khai sai",
    "layer.zones": "Khu vực chỉ lắp cột A1",
    "layer.routes": "Tuyến đường chỉ lắp cột A1",
    "layer.streets": "Đường phố",
    "layer.cables": "Cáp viễn thông (theo trạng thái)",
    "layer.admin": "Ranh giới hành chính",
    "stats.title": "Số trạm theo quận/huyện × loại cột",
    "stats.district": "Quận/huyện",
    "stats.total": "Tổng",
    "stats.unknown": "Chưa xác định",
    "stats.unavailable": "Chưa có số liệu thống kê",
    "stats.asOf": "Số liệu theo đơn vị hành chính tại ngày {date}",
    "cables.title": "Tiến độ hạ ngầm cáp theo quận/huyện",
    "cables.unavailable": "Chưa có số liệu tiến độ cáp",
    "cables.km": "km",
    "class.unknown": "Chưa xác định",
    "popup.site": "Trạm BTS",
    "popup.operator": "Doanh nghiệp",
    "popup.derived": "Loại cột (xác định)",
    "popup.declared": "Loại cột (kê khai)",
    "popup.mismatch": "khác với kê khai",
    "popup.mount": "Lắp đặt",
    "popup.mastHeight": "Chiều cao cột",
    "popup.buildingHeight": "Chiều cao công trình",
    "popup.status": "Trạng thái",
    "popup.tech": "Công nghệ",
    "popup.place": "Địa bàn",
    "popup.provisional": "tạm áp dụng",
    "popup.cluster": "Nhóm {n} trạm",
    "popup.zoomIn": "Phóng to để xem từng trạm",
    "filters.clusterNote": "Ở mức thu phóng này một số trạm được gộp nhóm; bộ lọc doanh nghiệp/trạng thái chỉ áp dụng cho từng trạm — phóng to để xem đủ.",
    "popup.reasons": "Căn cứ xác định",
    "popup.findings": "Vi phạm / cảnh báo",
    "popup.noFindings": "Không có vi phạm",
    "popup.loading": "Đang tải…",
    "popup.street": "Tuyến phố",
    "popup.length": "Chiều dài",
    "popup.plan": "Kế hoạch",
    "popup.targetYear": "Năm hoàn thành",
    "popup.method": "Phương thức",
    "popup.policy": "Quy định",
    "popup.corridor": "Hành lang",
    "popup.kind": "Loại khu vực",
    "popup.radius": "Bán kính",
    "popup.level": "Cấp",
    "popup.code": "Mã",
    "popup.distance": "khoảng cách",
    "popup.legal": "Căn cứ pháp lý",
    "policy.a1_only": "Chỉ cột A1",
    "policy.a2a_allowed": "Cho phép A2a",
    "policy.any": "Không hạn chế",
    "mount.ground": "Trên mặt đất",
    "mount.building": "Trên công trình",
    "method.underground": "Hạ ngầm",
    "method.bracketed": "Treo trên giá đỡ",
    "method.removed": "Thu hồi",
    "severity.violation": "Vi phạm",
    "severity.warning": "Cảnh báo",
    "severity.info": "Thông tin",
    "level.district": "Quận/huyện",
    "level.commune": "Xã/phường",
    "level.province": "Tỉnh/thành phố",
    "kind.site": "Trạm",
    "kind.route": "Tuyến đường",
    "kind.street": "Tuyến cáp",
    "kind.zone": "Khu vực",
    "kind.district": "Quận/huyện",
    "kind.commune": "Xã/phường",
    "map.error": "Lỗi tải bản đồ",
  },
  en: {
    "app.title": "Passive telecom infrastructure map",
    "search.label": "Search",
    "search.placeholder": "Find a site code, street, ward…",
    "search.none": "Nothing found",
    "check.button": "Check a point",
    "check.hint": "Click the map where the proposed mast would stand",
    "check.title": "Check a proposed site",
    "check.operator": "Operator",
    "check.mount": "Mount",
    "check.mastHeight": "Mast height (m)",
    "check.buildingHeight": "Building height (m)",
    "check.reach": "Reach (m)",
    "check.camouflaged": "Camouflaged",
    "check.submit": "Check",
    "check.running": "Checking…",
    "check.derived": "Derived class",
    "check.ok": "No planning findings",
    "check.colocation": "Co-location candidates",
    "check.failed": "Check failed",
    "base.osm": "OSM base map (online)",
    "panel.toggle": "Panel",
    "lang.title": "Tiếng Việt",
    "filters.title": "Filters",
    "filters.class": "Mast class",
    "filters.operator": "Operator",
    "filters.district": "District",
    "filters.status": "Status",
    "filters.all": "All",
    "filters.findingsOnly": "Only sites with findings",
    "filters.visible": "{n} sites shown",
    "status.built": "Built",
    "status.planned": "Planned",
    "status.removed": "Removed",
    "status.in_progress": "In progress",
    "status.done": "Done",
    "export.button": "Export",
    "layers.title": "Layers",
    "layer.sites": "BTS sites",
    "layer.findings": "Violations: A2a masts on A1-only routes/zones",
    "layer.warnings": "Warnings: spacing, declared class mismatch",
    "layer.zones": "A1-only zones",
    "layer.routes": "A1-only routes",
    "layer.streets": "Streets",
    "layer.cables": "Cables (by status)",
    "layer.admin": "Administrative boundaries",
    "stats.title": "Sites by district × mast class",
    "stats.district": "District",
    "stats.total": "Total",
    "stats.unknown": "Unknown",
    "stats.unavailable": "Statistics unavailable",
    "stats.asOf": "Administrative units as of {date}",
    "cables.title": "Cable undergrounding by district",
    "cables.unavailable": "Cable progress unavailable",
    "cables.km": "km",
    "class.unknown": "Unknown",
    "popup.site": "BTS site",
    "popup.operator": "Operator",
    "popup.derived": "Class (derived)",
    "popup.declared": "Class (declared)",
    "popup.mismatch": "differs from declared",
    "popup.mount": "Mount",
    "popup.mastHeight": "Mast height",
    "popup.buildingHeight": "Building height",
    "popup.status": "Status",
    "popup.tech": "Technology",
    "popup.place": "Location",
    "popup.provisional": "provisional",
    "popup.cluster": "Cluster of {n} sites",
    "popup.zoomIn": "Zoom in to see each site",
    "filters.clusterNote": "At this zoom some sites are grouped; operator/status filters apply to single sites only — zoom in to see them all.",
    "popup.reasons": "Why this class",
    "popup.findings": "Findings",
    "popup.noFindings": "No findings",
    "popup.loading": "Loading…",
    "popup.street": "Street",
    "popup.length": "Length",
    "popup.plan": "Plan",
    "popup.targetYear": "Target year",
    "popup.method": "Method",
    "popup.policy": "Policy",
    "popup.corridor": "Corridor",
    "popup.kind": "Kind",
    "popup.radius": "Radius",
    "popup.level": "Level",
    "popup.code": "Code",
    "popup.distance": "distance",
    "popup.legal": "Legal source",
    "policy.a1_only": "A1 masts only",
    "policy.a2a_allowed": "A2a allowed",
    "policy.any": "Unrestricted",
    "mount.ground": "On the ground",
    "mount.building": "On a building",
    "method.underground": "Underground",
    "method.bracketed": "In brackets",
    "method.removed": "Removed",
    "severity.violation": "Violation",
    "severity.warning": "Warning",
    "severity.info": "Info",
    "level.district": "District",
    "level.commune": "Commune/ward",
    "level.province": "Province",
    "kind.site": "Site",
    "kind.route": "Route",
    "kind.street": "Cable street",
    "kind.zone": "Zone",
    "kind.district": "District",
    "kind.commune": "Commune/ward",
    "map.error": "Map error",
  },
};

const KEY = "btsplan.lang";
let lang = (() => {
  try {
    const saved = window.localStorage.getItem(KEY);
    if (saved && saved in STRINGS) return saved;
  } catch (_) { /* storage disabled */ }
  const fromUrl = new URLSearchParams(window.location.search).get("lang");
  return fromUrl && fromUrl in STRINGS ? fromUrl : "vi";
})();

const listeners = [];

export function currentLang() { return lang; }

/** Translate a key, filling {placeholders}; unknown keys fall back to Vietnamese, then to the key. */
export function t(key, params = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.vi[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in params ? String(params[k]) : `{${k}}`));
}

/** Like t(), but returns null when there is no translation (used for enum values such as statuses). */
export function tMaybe(key) {
  return STRINGS[lang][key] ?? STRINGS.vi[key] ?? null;
}

export function applyStatic(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}

export function setLang(next) {
  if (!(next in STRINGS) || next === lang) return;
  lang = next;
  try { window.localStorage.setItem(KEY, lang); } catch (_) { /* storage disabled */ }
  applyStatic();
  for (const fn of listeners) fn(lang);
}

export function onLangChange(fn) { listeners.push(fn); }

/** Numbers the Vietnamese way (1.234,5) or the English way (1,234.5). */
export function fmt(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return "–";
  return Number(n).toLocaleString(lang === "vi" ? "vi-VN" : "en-GB",
    { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
