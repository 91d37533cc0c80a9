"""The reader streams: peak memory does not grow with the file (see benchmarks/reader_memory.py).

Each file is streamed completely through `FashionGenReader.dataset()` in a
fresh Python process, whose peak RSS is compared. The control (reading every
image at once in the same process) shows the measurement catches an eager read.
"""

import pytest

from benchmarks import reader_memory

# The large file is 20x the small one (~74 MB more), well above the ~10 MB that
# TensorFlow's allocator drifts by when streaming through from_generator.
SMALL_ROWS, LARGE_ROWS, IMAGE_SIZE = 300, 6000, 64


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_file(tmp_path):
    small_path = str(tmp_path / "small.h5")
    large_path = str(tmp_path / "large.h5")
    reader_memory.write_file(small_path, SMALL_ROWS, IMAGE_SIZE)
    reader_memory.write_file(large_path, LARGE_ROWS, IMAGE_SIZE)

    small = reader_memory.measure(small_path, block_size=256)
    large = reader_memory.measure(large_path, block_size=256)

    # Every example was streamed (3.7 MB vs 74 MB of images).
    assert small["examples"] == SMALL_ROWS
    assert large["examples"] == LARGE_ROWS
    image_growth = large["image_bytes"] - small["image_bytes"]
    assert image_growth == (LARGE_ROWS - SMALL_ROWS) * IMAGE_SIZE * IMAGE_SIZE * 3
    file_growth = large["file_bytes"] - small["file_bytes"]
    assert file_growth >= image_growth

    rss_growth = large["peak_rss_streaming"] - small["peak_rss_streaming"]
    assert rss_growth < file_growth / 3, (
        f"streaming peak RSS grew by {rss_growth / 2**20:.1f} MB while the file grew by "
        f"{file_growth / 2**20:.1f} MB: the reader is not lazy ({small}, {large})"
    )

    # Control: an eager read of the large file does show up in the peak.
    control = large["peak_rss_after_full_read"] - large["peak_rss_streaming"]
    assert control > image_growth / 2, (small, large)
