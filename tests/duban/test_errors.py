"""Refusals and the system's reasons, in the interface language."""

from __future__ import annotations

import errno

from bot.i18n import gettext_for
from duban.errors import os_reason


def test_the_systems_reason_for_a_file_is_said_in_chinese() -> None:
    chinese = gettext_for("zh_CN")
    assert os_reason(PermissionError(errno.EACCES, "Permission denied")).render(chinese) == "没有权限"
    assert os_reason(OSError(errno.ENOSPC, "No space left on device")).render(chinese) == "磁盘空间不足"
    # an errno without words of its own is named by its code, not by the system's English
    assert (
        os_reason(OSError(errno.EXDEV, "Invalid cross-device link")).render(chinese)
        == "系统拒绝了操作（EXDEV）"
    )
