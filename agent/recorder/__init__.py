"""The profile recorder: a maintainer logs in once in Chromium, mapay writes the platform's draft profile."""

from agent.recorder.decisions import TODO_MARK, Decision
from agent.recorder.draft import Draft, RecordingError, unresolved
from agent.recorder.recorder import Recorder

__all__ = ["TODO_MARK", "Decision", "Draft", "Recorder", "RecordingError", "unresolved"]
