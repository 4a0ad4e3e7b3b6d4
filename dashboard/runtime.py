"""Process-wide settings, applied once when the app's process first imports this module (Streamlit reruns
app.py on every interaction, but a module is imported once), and the sweep that hands a closed tab's memory back."""

import asyncio
import ctypes
import ctypes.util
import gc
import logging
import os
import threading
import time

import streamlit as st
import torch
from streamlit.runtime import Runtime

# MLflow prints a progress bar to the server log for every artifact download.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

# Each browser session predicts in its own thread, and the shared models are small: one intra-op thread per
# prediction lets two sessions run side by side on two cores instead of fighting over both.
TORCH_THREADS = int(os.environ.get("RNNLAB_TORCH_THREADS", "1"))
torch.set_num_threads(TORCH_THREADS)
torch.set_num_interop_threads(1)
LOGGER = logging.getLogger(__name__)

# A tab that goes away leaves its session (its state, uploads and media) in the server for
# server.disconnectedSessionTTL seconds, in case it comes back. Past that, Streamlit 1.67 drops the session from
# its store without shutting it down, so the session's uploaded files and media stay in memory for good; and glibc
# keeps memory that Python freed in its arenas. So a thread shuts such sessions down itself, a little before that
# TTL, and hands the freed memory back to the system.
SWEEP_S = 5.0
LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if ctypes.util.find_library("c") else None


def close_abandoned_sessions(runtime, first_seen: dict[str, float], grace_s: float, now: float) -> list[str]:
    """Shut down every session whose browser has been gone for ``grace_s`` (by ``first_seen``: session id ->
    when a sweep first found it disconnected, kept between sweeps); returns the ids closed. Runs on the runtime's
    event loop, as Streamlit's own closing of sessions does: its session store is not thread-safe."""
    # Streamlit has no public list of its sessions; its session manager's is the one the runtime itself walks.
    sessions = [info.session.id for info in runtime._session_mgr.list_sessions()]
    disconnected = {session for session in sessions if not runtime.is_active_session(session)}
    for session in set(first_seen) - disconnected:  # came back, or already gone
        del first_seen[session]
    closed = []
    for session in disconnected:
        if now - first_seen.setdefault(session, now) >= grace_s:
            runtime.close_session(session)
            del first_seen[session]
            closed.append(session)
    return closed


def release_freed_memory() -> None:
    gc.collect()  # a session's state can sit in reference cycles
    if LIBC is not None and hasattr(LIBC, "malloc_trim"):  # glibc only
        LIBC.malloc_trim(0)


async def sweep_once(runtime, first_seen: dict[str, float], grace_s: float) -> list[str]:
    return close_abandoned_sessions(runtime, first_seen, grace_s, time.monotonic())


def sweep_sessions() -> None:
    # Closed a sweep or two before Streamlit's own expiry, which would drop the session without shutting it down.
    grace_s = max(0.0, st.get_option("server.disconnectedSessionTTL") - 2 * SWEEP_S)
    first_seen: dict[str, float] = {}
    while True:
        time.sleep(SWEEP_S)
        if not Runtime.exists():
            continue
        runtime = Runtime.instance()
        try:
            loop = runtime._get_async_objs().eventloop
            closed = asyncio.run_coroutine_threadsafe(sweep_once(runtime, first_seen, grace_s), loop).result()
        except Exception as error:  # noqa: BLE001  (a Streamlit without these internals: serve on, sweep no more)
            LOGGER.warning(
                "Closed sessions are no longer swept (%s: %s): Streamlit may keep their uploads in memory.",
                type(error).__name__,
                error,
            )
            return
        if closed:
            release_freed_memory()


threading.Thread(target=sweep_sessions, name="rnnlab-session-sweep", daemon=True).start()
