"""The text a user sees for a script's uncaught exception (SPEC §7).

Type, message and the script's own frames only (file ``<script>``, its line numbers and
lines): never a frame, path or source line of the service or the runtime. Reads no files.
"""

from __future__ import annotations

from sandbox.policy.compiler import FILENAME
from sandbox.policy.guards import is_script_class

MAX_MESSAGE_CHARS = 2_000
MAX_FRAMES = 50  # recursion errors: keep the first few and the last ones
_HEAD_FRAMES = 10
_REPEATS_SHOWN = 3
_CHAINS = 5
_CAUSE = "The above exception was the direct cause of the following exception:"
_CONTEXT = "During handling of the above exception, another exception occurred:"


def _frames(exc: BaseException) -> list[tuple[int, str]]:
    frames: list[tuple[int, str]] = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == FILENAME:
            frames.append((tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    return frames


def _type_name(cls: type) -> str:
    module, name = getattr(cls, "__module__", ""), cls.__qualname__
    if module in ("builtins", "__main__") or is_script_class(cls):
        return name
    if module == "poe" or module.startswith("sandbox.poe"):  # the runtime's classes
        return f"poe.{name}"
    return f"{module}.{name}"


def _message(exc: BaseException) -> str:
    try:
        # May run the script's own __str__; an exact str, since a str subclass of the
        # script's could run its own __len__ or __format__ below.
        text = str.__str__(str(exc))
    except BaseException:
        return f"<exception str() failed for {type(exc).__name__}>"
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + "…"
    return text


def _collapse(frames: list[tuple[int, str]]) -> list[tuple[int, str] | str]:
    """Frames with runs of one repeated frame cut after three, as Python's own tracebacks."""
    shown: list[tuple[int, str] | str] = []
    index = 0
    while index < len(frames):
        end = index
        while end + 1 < len(frames) and frames[end + 1] == frames[index]:
            end += 1
        repeats = end - index + 1
        shown.extend(frames[index : index + min(repeats, _REPEATS_SHOWN)])
        if repeats > _REPEATS_SHOWN:
            more = repeats - _REPEATS_SHOWN
            shown.append(f"  [Previous line repeated {more} more time{'s' if more > 1 else ''}]")
        index = end + 1
    return shown


def _format_one(exc: BaseException, frames: list[tuple[int, str]], lines: list[str]) -> list[str]:
    out: list[str] = []
    if frames:
        out.append("Traceback (most recent call last):")
        shown = _collapse(frames)
        if len(shown) > MAX_FRAMES:
            tail = MAX_FRAMES - _HEAD_FRAMES
            hidden = len(shown) - MAX_FRAMES
            shown = [*shown[:_HEAD_FRAMES], f"  ... {hidden} more frames ...", *shown[-tail:]]
        for frame in shown:
            if isinstance(frame, str):
                out.append(frame)
                continue
            lineno, name = frame
            out.append(f'  File "{FILENAME}", line {lineno}, in {name}')
            if 0 < lineno <= len(lines) and lines[lineno - 1].strip():
                out.append(f"    {lines[lineno - 1].strip()}")
    message = _message(exc)
    name = _type_name(type(exc))
    out.append(f"{name}: {message}" if message else name)
    return out


def format_script_error(exc: BaseException, source: str | None = None) -> str:
    """``exc`` as the user sees it; ``source`` (the script) gives the lines of its frames.

    Chained exceptions (``raise ... from``, or raised while handling another) are shown
    only when the script's own code raised or handled them, so that an internal cause
    behind a runtime error stays internal."""
    lines = source.splitlines() if source else []
    chain: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link: str | None = None
    while current is not None and id(current) not in seen and len(chain) < _CHAINS:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            current, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, _CONTEXT
        else:
            current = None
    blocks: list[str] = []
    pending_link: str | None = None
    for item, item_link in reversed(chain):
        frames = _frames(item)
        if item is not exc and not frames:
            pending_link = None
            continue
        if blocks and pending_link:
            blocks.append(f"\n{pending_link}\n")
        blocks.append("\n".join(_format_one(item, frames, lines)))
        pending_link = item_link
    return "\n".join(blocks)
