"""How much memory a native program claims before it runs: its ELF load segments.

Under an address-space limit, a program whose static arrays (.bss, .data) exceed the
limit cannot even be loaded, and the kernel can only tell it with a SIGSEGV after exec
has passed its point of no return. Nothing in the run's facts tells that apart from a
crash; the binary's own headers do.
"""

import signal
import struct

from contracts.sandbox import RunResult, Verdict

_ELF64_LITTLE_ENDIAN = b"\x7fELF\x02\x01"
_PT_LOAD = 1
# A program that got to run its own code has used more CPU than loading takes.
_LOAD_CPU_MS = 10
_LOAD_FAILURE_SIGNALS = (signal.SIGSEGV, signal.SIGKILL)


def may_have_failed_to_load(result: RunResult) -> bool:
    """Died at once by a load-failure signal (directly, or as its shell reports it)."""
    if result.verdict is not Verdict.RUNTIME_ERROR or result.cpu_ms > _LOAD_CPU_MS:
        return False
    if result.signal is not None:
        return result.signal in _LOAD_FAILURE_SIGNALS
    return result.exit_code in tuple(128 + number for number in _LOAD_FAILURE_SIGNALS)


def static_memory_bytes(binary: bytes) -> int | None:
    """The total in-memory size of an ELF64 (little-endian) file's load segments."""
    if not binary.startswith(_ELF64_LITTLE_ENDIAN) or len(binary) < 64:
        return None
    (table_offset,) = struct.unpack_from("<Q", binary, 0x20)
    entry_size, entry_count = struct.unpack_from("<HH", binary, 0x36)
    total = 0
    for index in range(entry_count):
        offset = table_offset + index * entry_size
        if offset + 0x30 > len(binary):
            return None
        (kind,) = struct.unpack_from("<I", binary, offset)
        if kind == _PT_LOAD:
            total += struct.unpack_from("<Q", binary, offset + 0x28)[0]
    return total
