import gc
import threading

from models.bulk import collector_paused


def test_overlapping_pauses_in_two_threads_leave_the_collector_as_it_was():
    assert gc.isenabled()
    first_inside, first_may_leave, first_left = threading.Event(), threading.Event(), threading.Event()

    def first_pause():
        with collector_paused():
            first_inside.set()
            first_may_leave.wait(timeout=10)
        first_left.set()

    thread = threading.Thread(target=first_pause)
    thread.start()
    first_inside.wait(timeout=10)
    with collector_paused():  # begins while the first pause is on, ends after it
        assert not gc.isenabled()
        first_may_leave.set()
        first_left.wait(timeout=10)
        assert not gc.isenabled()  # the first pause's end does not end this one
    thread.join(timeout=10)
    assert gc.isenabled()


def test_a_pause_keeps_a_collector_that_was_off_off():
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_collector_comes_back_after_an_exception():
    try:
        with collector_paused():
            raise RuntimeError("bulk work failed")
    except RuntimeError:
        pass
    assert gc.isenabled()
