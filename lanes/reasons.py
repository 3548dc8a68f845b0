"""Reason codes every decision carries, and the driver display's messages, bilingual.

A reason is for the record and the officer (machine-readable ``code`` plus text); the
driver display only ever shows a message (``MESSAGES``), never why a truck was referred.
``REFER`` reasons send the truck to an officer; ``INFO`` reasons only explain.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    REFER = "refer"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    severity: Severity
    english: str
    chinese: str
    detail: str = ""


_R, _I = Severity.REFER, Severity.INFO

# code: (severity, English, Chinese)
CATALOGUE: dict[str, tuple[Severity, str, str]] = {
    "VEHICLE_NOT_IDENTIFIED": (_R, "Vehicle not identified by tag or plate", "未能以標籤或車牌識別車輛"),
    "TAG_UNKNOWN": (_R, "Vehicle tag not registered", "車輛標籤未有登記"),
    "PLATE_UNKNOWN": (_R, "Registration mark not registered", "車輛登記號碼未有登記"),
    "TAG_PLATE_MISMATCH": (_R, "Vehicle tag and plate do not agree", "車輛標籤與車牌不符"),
    "TAG_CONFLICT": (_R, "More than one vehicle tag read", "讀取到多於一個車輛標籤"),
    "PLATE_USED_NO_TAG": (_I, "No vehicle tag read; identified by plate", "未能讀取車輛標籤，以車牌識別"),
    "TAG_USED_NO_PLATE": (_I, "Plate not read; identified by tag", "未能讀取車牌，以車輛標籤識別"),
    "VEHICLE_WATCH_LISTED": (_R, "Vehicle on a watch list", "車輛在監察名單上"),
    "NO_TRIP": (_R, "No bundled trip for this vehicle here", "此車輛在本管制站沒有已綁定的行程"),
    "TRIP_LOOKUP_UNANSWERED": (_R, "Trip look-up not answered", "行程查詢沒有回應"),
    "TRIP_NOT_CROSSABLE": (_R, "Trip is not open for crossing", "行程並非可過境狀態"),
    "TRIP_ALREADY_USED": (_R, "Trip already used at this lane", "行程已在本行車線使用"),
    "TRIP_WRONG_VEHICLE": (_R, "Trip is for another vehicle", "行程屬於另一車輛"),
    "TRIP_WRONG_CONTROL_POINT": (_R, "Trip is for another control point", "行程屬於另一管制站"),
    "TRIP_WRONG_DIRECTION": (_R, "Trip is for the other direction", "行程方向不符"),
    "SLOT_EARLY": (_R, "Far earlier than the time slot", "遠早於指定時段"),
    "SLOT_LATE": (_R, "Far later than the time slot", "遠遲於指定時段"),
    "ELOCK_NOT_INTACT": (_R, "Electronic lock not intact or off route", "電子鎖並非完好或偏離路線"),
    "CACHE_STALE": (_R, "Local data too old to decide", "本地資料過時，未能作出決定"),
    "CACHE_STALE_KNOWN_CLEAR": (_I, "Local data old; trip known clear", "本地資料過時，行程已知為放行"),
    "VERDICT_CLEAR": (_I, "Cargo cleared", "貨物已獲放行"),
    "VERDICT_INSPECT": (_I, "Cargo selected for inspection", "貨物被選中查驗"),
    "VERDICT_HOLD": (_R, "Cargo on hold", "貨物被扣留待查"),
    "NO_CARD": (_R, "No identity card presented", "未有出示身份證"),
    "CARD_REJECTED": (_R, "Identity card failed authentication", "身份證認證失敗"),
    "CARD_EXPIRED": (_R, "Identity card expired", "身份證已過期"),
    "DRIVER_UNKNOWN": (_R, "Driver not registered", "司機未有登記"),
    "DRIVER_WATCH_LISTED": (_R, "Driver on a watch list", "司機在監察名單上"),
    "DRIVER_NOT_ON_TRIP": (_R, "Driver is not the trip's driver", "司機與行程不符"),
    "DEVICE_FAULT": (_R, "Lane device fault", "行車線設備故障"),
    "OFFICER_RELEASE": (_I, "Released by an officer", "關員放行"),
    "OFFICER_INSPECT": (_I, "Sent to inspection by an officer", "關員指示前往查驗"),
    "INSPECTION_RESULT": (_I, "Inspection result recorded", "已記錄查驗結果"),
}


def reason(code: str, detail: str = "") -> Reason:
    severity, english, chinese = CATALOGUE[code]
    return Reason(code, severity, english, chinese, detail)


def refers(reasons: tuple[Reason, ...] | list[Reason]) -> bool:
    return any(r.severity is Severity.REFER for r in reasons)


# Driver display: code -> (English, Chinese)
MESSAGES: dict[str, tuple[str, str]] = {
    "WELCOME": ("Welcome. Please stop at the kiosk", "歡迎。請在查驗亭前停車"),
    "INSERT_CARD": ("Please insert your identity card", "請插入身份證"),
    "CHECKING": ("Checking, please wait", "正在核對，請稍候"),
    "PROCEED": ("Cleared. Please take your card and proceed", "已放行。請取回證件並前行"),
    "INSPECTION": ("Please take your card and go to the inspection bay", "請取回證件並駛往查驗區"),
    "SEE_OFFICER": ("Please wait for an officer", "請等候關員"),
    "STOP": ("Stop. One vehicle at a time", "停車。每次只准一輛車輛通過"),
    "LANE_CLOSED": ("Lane closed. Please use another lane", "此行車線已關閉，請使用其他行車線"),
    "LANE_FAULT": ("Lane fault. Please wait for an officer", "行車線故障。請等候關員"),
}
