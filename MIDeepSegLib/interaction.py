"""The Slicer module's interaction decisions, free of Slicer, Qt and VTK.

The module's widget is glue: it turns MRML events into calls on these
classes and carries out what they decide. Everything that decides something
lives here, so that it is tested with pytest on the event sequences Slicer
really produces (``Testing/test_interaction.py`` cites the Slicer source of
each one):

- :class:`WatchedLists`: which point-list *objects* are observed. A scene
  close re-creates the lists with the same IDs (``vtkMRMLScene::Clear``
  clears its unique-ID counters), so lists are compared by identity.
- :class:`UpdateGate`: whether a point event changes the placed clicks and
  what to do then. The preview point that follows the mouse in place mode
  is added and removed without the user placing anything.
- :func:`event_point_index`: the control point a ``PointPositionDefinedEvent``
  refers to (its call data), not the last one of the list.
- :class:`ClickHistory`: the order in which clicks were placed, for Undo.
- :class:`Busy`: one flag for every handler, with Cancel (the worker's
  result is then discarded).
- :func:`mode_switch`, :func:`scene_closed`: what a 2D <-> 3D switch and a
  scene close do.
- :class:`SessionKey`: what one segmentation session is about.

Nothing here imports slicer, qt, vtk, torch or numpy.
"""

from collections import namedtuple

#: The oldest torch MIDeepSegLib runs on (pyproject.toml's requirement).
TORCH_MINIMUM = "2.1"

#: What a segmentation session is about: the volume and segmentation *nodes* (compared by
#: identity, because IDs are reused after a scene close), the segment ID, the mode and, in 2D,
#: the array axis the view cuts across and the slice index along it (None in 3D).
SessionKey = namedtuple("SessionKey", "volume segmentation segmentID mode axis index")


def same_target(a, b):
    """Whether two :class:`SessionKey` are the same volume, segmentation, segment and mode.

    Nodes are compared by identity; the 2D slice (axis, index) is ignored.
    """
    if a is None or b is None:
        return False
    return a.volume is b.volume and a.segmentation is b.segmentation and a.segmentID == b.segmentID \
        and a.mode == b.mode


def same_session(a, b):
    """Like :func:`same_target`, and on the same 2D slice."""
    return same_target(a, b) and (a.axis, a.index) == (b.axis, b.index)


class WatchedLists:
    """The point-list objects the widget observes.

    :meth:`change` takes the lists the parameter node holds now and returns
    ``(stop, start)``: the objects to remove observers from and to add them
    to. Objects are compared by identity, never by MRML ID: after a scene
    close the re-created lists get the IDs of the deleted ones.
    """

    def __init__(self):
        self.lists = ()

    def change(self, current):
        current = tuple(node for node in current if node is not None)
        if len(current) == len(self.lists) and all(a is b for a, b in zip(current, self.lists)):
            return (), ()
        stop, self.lists = self.lists, current
        return stop, current

    def forget(self):
        """After a scene close: the observed objects are gone; return them (to remove the observers)."""
        stop, self.lists = self.lists, ()
        return stop


class UpdateGate:
    """Decides what a point event leads to, from the placed (defined) clicks.

    The widget gives :meth:`decide` a *snapshot* of the placed clicks: one
    tuple per list of ``(control point ID, rounded position)`` for the points
    whose position is defined (preview points excluded). Only a change of the
    snapshot can lead to an update, so the preview point that appears while
    hovering and disappears when the cursor leaves a view changes nothing.

    Parameters
    ----------
    min_points : dict
        Mode -> number of interior margin points from which clicks update
        the mask on their own.
    """

    NOTHING = "nothing"  # the placed clicks did not change, or there is nothing to do
    WAIT = "wait"  # too few interior points for an automatic update (or auto-update is off)
    UPDATE = "update"  # run the update
    CLEAR = "clear"  # the last interior point was removed: end the session, restore the segment

    def __init__(self, min_points):
        self.min_points = dict(min_points)
        self._last = None

    def decide(self, snapshot, mode, auto_update=True, session_active=False):
        """What to do for these placed clicks.

        Parameters
        ----------
        snapshot : tuple
            (interior, foreground, background), each a tuple of hashable point keys.
        mode : str
            "2D" or "3D".
        auto_update : bool
            Whether clicks update the mask on their own.
        session_active : bool
            Whether a session wrote into the segment: then every change
            updates, even below `min_points` (the user pressed Segment), and
            removing every interior point restores the segment.

        Returns
        -------
        str, one of :attr:`NOTHING`, :attr:`WAIT`, :attr:`UPDATE`, :attr:`CLEAR`.
        """
        snapshot = tuple(tuple(points) for points in snapshot)
        if snapshot == self._last:
            return self.NOTHING
        self._last = snapshot
        interior = len(snapshot[0])
        if interior == 0:
            return self.CLEAR if session_active else self.NOTHING
        if not auto_update or (interior < self.min_points[mode] and not session_active):
            return self.WAIT  # (once a session runs, e.g. after pressing Segment, every click updates)
        return self.UPDATE

    def forget(self):
        """Forget the last snapshot (session ended, scene closed): the next decision starts afresh."""
        self._last = None


def event_point_index(call_data, count):
    """The control point index a ``PointPositionDefinedEvent`` refers to.

    Parameters
    ----------
    call_data : int or None
        The event's call data: vtkMRMLMarkupsNode invokes the event with the
        index of the point whose position became defined. None when the
        observer received no call data.
    count : int
        The list's number of control points now.

    Returns
    -------
    int, the index, or -1 when it is not a point of the list (any more).
    """
    if call_data is None:
        return count - 1 if count > 0 else -1
    index = int(call_data)
    return index if 0 <= index < count else -1


class ClickHistory:
    """The clicks in the order they were placed, as (point list object, control point ID), for Undo."""

    def __init__(self):
        self._clicks = []

    def __len__(self):
        return len(self._clicks)

    def add(self, point_list, point_id):
        self._clicks.append((point_list, point_id))

    def pop(self, exists):
        """Remove and return the most recent click for which ``exists(point_list, point_id)`` holds.

        Clicks deleted meanwhile (from the Markups module, a scene close) are
        dropped on the way. Returns None when no click is left.
        """
        while self._clicks:
            click = self._clicks.pop()
            if exists(*click):
                return click
        return None

    def keep_only(self, point_list, point_id):
        """Forget every click but this one (a new 2D slice started with it)."""
        self._clicks = [(point_list, point_id)] if point_list is not None else []

    def clear(self):
        self._clicks = []


class BusyError(RuntimeError):
    """A second computation or install was requested while one runs."""


class Busy:
    """One busy flag for the module, with Cancel.

    The computation runs on a worker thread that cannot be interrupted:
    Cancel stops the waiting at once, and the result the worker returns later
    is discarded. The flag stays set until the worker has really finished,
    so nothing new starts on top of it.
    """

    def __init__(self):
        self.what = None
        self._cancelled = False
        self._pending = None  # the future of a cancelled computation still running

    @property
    def busy(self):
        if self._pending is not None and self._pending.done():
            self._pending = None
        return self.what is not None or self._pending is not None

    @property
    def cancelled(self):
        return self._cancelled

    def start(self, what):
        """Take the flag for `what` (a short description); BusyError when it is taken."""
        if self.busy:
            raise BusyError("MIDeepSeg is still busy: {}".format(self.what or "finishing a cancelled computation"))
        self.what, self._cancelled = what, False

    def cancel(self):
        """Ask to cancel the running computation (its result will be discarded)."""
        if self.what is not None:
            self._cancelled = True

    def finish(self, future=None):
        """Release the flag. `future`: the worker's future, kept as busy while it still runs after a Cancel."""
        if self._cancelled and future is not None and not future.done():
            self._pending = future
        self.what = None

    def hold(self, what):
        """Context manager: :meth:`start` on entry, :meth:`finish` on exit."""
        return _Hold(self, what)


class _Hold:
    def __init__(self, busy, what):
        self.busy, self.what = busy, what

    def __enter__(self):
        self.busy.start(self.what)
        return self.busy

    def __exit__(self, *exc):
        self.busy.finish()
        return False


#: What the widget does when the mode changes: end the session without restoring the segment (the
#: work stays), clear the clicks (the other mode cannot use them: 3D clicks lie on many slices, 2D
#: clicks on one), forget the 2D view and the gate, and show the other mode's model path.
ModeSwitch = namedtuple("ModeSwitch", "end_session restore clear_points model_path")


def mode_switch(old_mode, new_mode, model_paths):
    """What a change of mode does, or None when the mode did not change.

    Parameters
    ----------
    old_mode, new_mode : str
        "2D" or "3D".
    model_paths : dict
        Mode -> the user's checkpoint path for that mode ("" for the shipped one).
    """
    if old_mode == new_mode:
        return None
    return ModeSwitch(end_session=True, restore=False, clear_points=True,
                      model_path=model_paths.get(new_mode, ""))


#: What the widget does when the scene closes (``vtkMRMLScene::StartCloseEvent``): end the session
#: without writing (its nodes are being deleted), drop the cached Segmenter (it holds a float32 copy
#: of the volume and the model), forget the click history and the watched lists (re-observed on the
#: lists re-created at EndCloseEvent, whatever their IDs).
SceneClose = namedtuple("SceneClose", "end_session restore drop_spare forget_history forget_lists")


def scene_closed():
    return SceneClose(end_session=True, restore=False, drop_spare=True, forget_history=True, forget_lists=True)


def modifier_role(shift, control):
    """The point list a modifier-click goes to: Shift -> "foreground", Ctrl -> "background", else None.

    Markups place mode only places on a click without modifier
    (vtkSlicerMarkupsWidget translates LeftButtonRelease with NoModifier), so
    modifier-clicks never compete with it. Shift and Ctrl together: None.
    """
    if shift and not control:
        return "foreground"
    if control and not shift:
        return "background"
    return None


def version_at_least(version, minimum):
    """Whether a version string (``"2.1.0+cu121"``, ``"2.8.0a0"``) is at least `minimum` (``"2.1"``).

    Only the leading numeric release parts are compared; a pre-release of a
    release counts as that release.
    """
    def release(text):
        parts = []
        for piece in str(text).split("+")[0].split("."):
            digits = ""
            for character in piece:
                if not character.isdigit():
                    break
                digits += character
            if not digits:
                break
            parts.append(int(digits))
            if len(digits) < len(piece):
                break
        return tuple(parts)

    have, need = release(version), release(minimum)
    if not have:
        raise ValueError(f"not a version: {version!r}")
    width = max(len(have), len(need))
    return have + (0,) * (width - len(have)) >= need + (0,) * (width - len(need))


def setting_bool(value, default):
    """A boolean read back from QSettings, which returns "true"/"false" strings on some platforms."""
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)
