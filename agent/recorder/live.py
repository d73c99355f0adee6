"""A recording where no window can open: the recorder's page is shown in a live view on a loopback URL.

The person opens the printed URL in any browser (on this machine, or through ``ssh -L``), logs in and opens
the transaction list on the streamed page exactly as in a window, then presses 完成录制 on the page or Enter
in the terminal. The recorder watches the same page either way, so the draft is the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Iterator

from agent.liveview import LiveView
from agent.liveview.loopback import LoopbackViewer
from agent.recorder.recorder import Recorder

HELP = ("在浏览器中打开下面的地址（仅本机可访问，只能打开一次；远程机器请先 ssh -L 端口:127.0.0.1:端口）："
        "在画面上像平时一样登录（输入账号密码、完成验证码、短信验证码），打开交易流水并翻到下一页，"
        "然后点“完成录制”（或在这里按回车）。")
PAGE_HELP = ("在上方画面中直接点击、输入：登录，打开交易流水并翻到下一页一次，然后点“完成录制”。"
             "手机上用下方输入框发送文字。密码不会写入草稿。")


async def record_in_live_view(recorder: Recorder, *, port: int = 0, tell: Callable[[str], None]) -> None:
    """Serve the recording's page until the person finishes (the page's button, Enter on a terminal, or the
    recorded tab closed); ``tell`` gets the help line and then the one-time URL."""
    finished = asyncio.Event()

    async def finish() -> None:
        finished.set()

    async with LiveView(recorder.page) as view, LoopbackViewer(
        view, title=f"录制平台配置：{recorder.name}", help_text=PAGE_HELP, port=port,
        commands={"finish": ("完成录制", finish)},
    ) as viewer:
        tell(HELP)
        tell(viewer.url)
        with _enter_pressed(finished):
            closed = asyncio.ensure_future(recorder.closed())
            done = asyncio.ensure_future(finished.wait())
            try:
                await asyncio.wait({closed, done}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                closed.cancel()
                done.cancel()
        view.announce("done", "录制结束，正在生成草稿，请回到终端查看结果")
        await asyncio.sleep(0.2)  # let the viewer read it


@contextlib.contextmanager
def _enter_pressed(finished: asyncio.Event) -> Iterator[None]:
    """Set ``finished`` when a line arrives on a terminal's stdin (nothing to watch when stdin is not one)."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else -1

    def line() -> None:
        with contextlib.suppress(OSError):
            os.read(fd, 4096)
        finished.set()

    if fd >= 0:
        loop.add_reader(fd, line)
    try:
        yield None
    finally:
        if fd >= 0:
            loop.remove_reader(fd)
