"""Each clause's wording (条款表述), in Chinese and rendered in English: the project's statement, not a quotation.

One table: the report prints it, and `tests/test_glossary.py` checks docs/clauses.md states the same.
The Chinese column is the wording the clause map (docs/clauses.md) is written from; the phrases the
issue cites verbatim (以北京时间为准、误差不大于30秒；每天小擦、每周大扫) are kept as written. The
regulation's source document was not found (docs/clauses.md, "Where the wording comes from"): the
rest is the project's Chinese wording of each clause, not a quotation of a text seen. So nothing shows
it as one: no quotation marks, no 原文 (original text); it is labelled `WORDING_LABEL` and the report
says where it comes from (`WORDING_NOTE`).
"""

from __future__ import annotations

import attrs

from watchkeeper.core.i18n import N_, Text, chinese


#: What a clause's wording is called wherever it is shown (条款表述: the clause as stated, not 原文).
WORDING_LABEL: Text = N_("Clause wording")
#: What a reader is told about the wording once, next to it: it is not the regulation's own text.
WORDING_NOTE: Text = N_("Each clause's wording is watchkeeper's statement of the clause, not a quotation: the "
                        "regulation's own text was not found. Compare it with the rule your site lives under.")


@attrs.frozen
class Quote:
    """A clause's wording: `zh` as the clause map states it, `en` rendered for English readers (the
    class keeps its name for callers; it is a statement, not a quotation)."""

    zh: str
    en: str


#: Every clause's wording; keep docs/clauses.md ("*条款表述：*" lines) the same.
REGULATION_QUOTES: dict[str, Quote] = {
    "R1": Quote("明确每台摄像机的监控范围和用途。",
                "The monitoring scope and purpose of every camera are defined."),
    "R2": Quote("监控系统由指定并经过培训的值班员操作。",
                "The system is operated only by designated operators who have been trained."),
    "R3": Quote("非工作人员未经批准不得进入监控室；确需进入的，须经审批并登记。",
                "Non-staff may not enter the monitoring room without approval; anyone who must enter is "
                "approved and registered."),
    "R4": Quote("监控室保持清洁、通风，不得存放与监控工作无关的物品；每天小擦、每周大扫。",
                "The monitoring room is kept clean and ventilated, with nothing unrelated to monitoring stored "
                "in it; a wipe-down every day, a thorough clean every week."),
    "R5": Quote("值班员每班上岗前对各摄像机录像进行回放检查，发现图像不清晰、故障、死机等情况及时排除或报告主管，"
                "并做好记录；未进行回放检查的，由当班值班员承担责任。",
                "Before each shift the operator plays back every camera's recording; unclear images, faults "
                "and hangs are fixed at once or reported to a manager, and recorded; where the playback check "
                "was not done, the operator on duty is accountable."),
    "R6": Quote("每日填写监控值班日志，记录系统运行、维护、检查和调阅情况。",
                "A monitoring journal is kept every day, recording operation, maintenance, checks and "
                "retrievals."),
    "R7": Quote("每次开机时核对录像时间，以北京时间为准、误差不大于30秒。",
                "At every start the recording time is checked against Beijing time; the error is not more "
                "than 30 seconds."),
    "R8": Quote("录像资料按规定期限保存，不得丢失；未经批准不得删除、篡改。",
                "Recordings are kept for the required period without loss; none is deleted or altered "
                "without approval."),
    "R9": Quote("只有经授权的人员方可查看、复制录像；因案件调查需调阅录像的，须经审批。",
                "Only authorised people view or copy recordings; retrieval for an investigation needs "
                "approval."),
    "R10": Quote("定期对录像使用和制度执行情况进行监督检查和评估，了解使用单位满意度，及时纠正违规行为。",
                 "The use of recordings and the keeping of these rules are supervised and evaluated "
                 "periodically, users' satisfaction is asked, and misuse is corrected at once."),
}


def quote(clause: str) -> str:
    """The clause's wording in the reader's language ("" for a clause the regulation does not have)."""
    found = REGULATION_QUOTES.get(clause)
    if found is None:
        return ""
    return found.zh if chinese() else found.en


def quoted(clause: str) -> list[str]:
    """What the report prints for a clause: the wording in the reader's language and, for a reader of
    another language than Chinese, the Chinese wording after it (the one the clause map is written from)."""
    found = REGULATION_QUOTES.get(clause)
    if found is None:
        return []
    return [found.zh] if chinese() else [found.en, found.zh]
