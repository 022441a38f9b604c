"""Who answers for an item: the bracket at its end, in every form the plans print.

    〔A，B〕                     named without roles -> the first named leads (these documents' convention)
    （A牵头，B、C配合）          lead A, co B and C; names before a role word take that role
    （A负责）                    lead A
    (责任科室：A、B)             a label, then names without roles -> first named leads

Only a bracket that closes the item counts: "县教育服务中心牵头" inside a sentence is how the work is
done, not the item's attribution. A closing bracket whose names do not look like departments
("（含幼儿园）") is not an attribution either; the item is then reported as unattributed. (An item with
no closing attribution at all whose sentence names a single lead is read by assemble._lead_in_sentence.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from duban.plan_import.textnorm import department_form, split_top_level, squeeze

_PAIRS = {"）": "（", ")": "（", "〕": "〔", "]": "〔", "】": "〔"}
_OPEN_FAMILY = {"（": "（", "(": "（", "〔": "〔", "[": "〔", "【": "〔"}
_LEAD = re.compile(r"(牵头负责|牵头)$")
_CO = re.compile(r"(共同参与|配合落实|协助|协同|协办|配合|参与)$")
_RESPONSIBLE = re.compile(r"(分别负责|具体负责|负责)$")
_LABEL = re.compile(r"^(?P<label>[\u4e00-\u9fff]{2,6})[：:]")
_ROLE_WORDS = re.compile(r"牵头|配合|负责|参与|协同|协助|协办|责任")
DEPARTMENT_END = re.compile(
    r"(局|部|办|委|科|室|中心|院|校|会|联|队|所|处|组|站|团|街区|街镇|街道|乡镇|镇|政府|单位|部门|机构|馆|台|社|厅|公司|银行|管委会)$"
)


@dataclass
class Attribution:
    printed: str
    lead: list[str] = field(default_factory=list)
    co: list[str] = field(default_factory=list)
    by_convention: bool = False  # no role words: the first named was taken as lead
    doubts: list[str] = field(default_factory=list)


def looks_like_department(name: str) -> bool:
    bare = re.sub(r"（[^（）]*）$", "", name)
    return bool(bare) and len(bare) <= 30 and bool(DEPARTMENT_END.search(bare))


def split_attribution(raw: str) -> tuple[str, Attribution | None]:
    """(item text without its attribution, the attribution or None)."""
    text = squeeze(raw).rstrip("。；;")
    opened = _matching_open(text)
    if opened is None:
        return squeeze(raw), None
    inner = text[opened + 1 : -1]
    strong = _OPEN_FAMILY[text[opened]] == "〔" or bool(_ROLE_WORDS.search(inner))
    attribution = parse_attribution(inner)
    names = attribution.lead + attribution.co
    if not names or (not strong and not all(looks_like_department(n) for n in names)):
        return squeeze(raw), None
    return text[:opened].rstrip(), attribution


def _matching_open(text: str) -> int | None:
    if not text or text[-1] not in _PAIRS:
        return None
    family = _PAIRS[text[-1]]
    depth = 0
    for index in range(len(text) - 1, -1, -1):
        char = text[index]
        if char in _PAIRS and _PAIRS[char] == family:
            depth += 1
        elif char in _OPEN_FAMILY and _OPEN_FAMILY[char] == family:
            depth -= 1
            if depth == 0:
                return index
    return None


def parse_attribution(inner: str) -> Attribution:
    printed = department_form(inner).replace(",", "，").replace(";", "；").replace(":", "：")
    result = Attribution(printed=printed)
    roles: list[tuple[str, str]] = []  # (role, name) in printed order
    pending: list[str] = []
    any_role = False
    for segment in split_top_level(printed, "；"):
        label = _LABEL.match(segment)
        label_role = None
        if label:
            segment = segment[label.end() :]
            word = label["label"]
            label_role = "lead" if "牵头" in word else "co" if re.search("配合|参与|协", word) else None
        for piece in split_top_level(segment, "，"):
            role, names = _role_of(piece)
            role = role or label_role
            if role is None:
                pending.extend(names)
                continue
            any_role = True
            roles.extend((role, n) for n in [*pending, *names])
            pending = []
    if pending and any_role:
        result.doubts.append(f"“{'、'.join(pending)}”没有写明牵头或配合，按配合部门读取")
        roles.extend(("co", n) for n in pending)
    elif pending:
        result.by_convention = True
        roles.extend(("named", n) for n in pending)
    _assign(result, roles)
    return result


def _role_of(piece: str) -> tuple[str | None, list[str]]:
    for pattern, role in ((_LEAD, "lead"), (_CO, "co"), (_RESPONSIBLE, "responsible")):
        match = pattern.search(piece)
        if match:
            return role, _names(piece[: match.start()])
    return None, _names(piece)


def _names(text: str) -> list[str]:
    names = [department_form(n).removesuffix("等") for n in split_top_level(text, "、，")]
    return [n for n in names if n]


def _assign(result: Attribution, roles: list[tuple[str, str]]) -> None:
    """Named-only or 负责 lists: the first named leads (unless a lead is printed), the rest cooperate."""
    has_lead = any(role == "lead" for role, _ in roles)
    for role, name in roles:
        if role in ("named", "responsible"):
            if has_lead:
                result.by_convention = True
            role, has_lead = ("co" if has_lead else "lead"), True
        if name in result.lead or name in result.co:
            continue
        (result.lead if role == "lead" else result.co).append(name)
    for name in result.lead + result.co:
        if not looks_like_department(name):
            result.doubts.append(f"“{name}”不像部门名称")
