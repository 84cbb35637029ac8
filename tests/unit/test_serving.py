"""Long-running processes set their start-up objects aside from garbage collection."""

import gc

from web.serving import freeze_startup_objects


def test_start_up_objects_are_frozen_out_of_the_collections():
    kept = [[n] for n in range(1000)]  # alive for the life of the process, like the app
    assert any(item is kept[0] for item in gc.get_objects())
    try:
        frozen = freeze_startup_objects()
        assert frozen == gc.get_freeze_count() and frozen >= len(kept)
        # What the collector walks no longer includes them (the permanent generation).
        assert not any(item is kept[0] for item in gc.get_objects())
        later = [0]
        assert any(item is later for item in gc.get_objects())  # new objects are still collected
    finally:
        gc.unfreeze()
